//! What Loupe remembers between runs: who is labeling and the recent
//! projects, in `settings.json` in the user's data directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The user's data directory for Loupe: `$XDG_DATA_HOME/loupe` or `~/.local/share/loupe`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("loupe");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".local/share/loupe")
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Who is labeling; recorded with every label.
    pub annotator: String,
    /// Project folders, most recent first.
    pub recent_projects: Vec<PathBuf>,
}

impl Settings {
    fn file(data_dir: &Path) -> PathBuf {
        data_dir.join("settings.json")
    }

    /// Reads the settings; missing or unreadable settings give the defaults
    /// (the annotator is then the login name).
    pub fn load(data_dir: &Path) -> Self {
        let mut settings: Settings = std::fs::read_to_string(Self::file(data_dir))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        if settings.annotator.trim().is_empty() {
            settings.annotator = std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "annotator".into());
        }
        settings
    }

    /// Writes the settings atomically (temporary file, then rename).
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(data_dir)?;
        let temporary = data_dir.join("settings.json.tmp");
        std::fs::write(
            &temporary,
            serde_json::to_string_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(temporary, Self::file(data_dir))
    }

    pub fn remember_project(&mut self, root: &Path) {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        self.recent_projects.retain(|p| p != &root);
        self.recent_projects.insert(0, root);
        self.recent_projects.truncate(10);
    }
}
