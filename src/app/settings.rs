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

/// The default annotator: the login name when it is a valid name, else "annotator".
fn login_annotator() -> String {
    crate::store::annotator_name(&std::env::var("USER").unwrap_or_default())
        .unwrap_or_else(|_| "annotator".into())
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Who is labeling; recorded with every label.
    pub annotator: String,
    /// Project folders, most recent first.
    pub recent_projects: Vec<PathBuf>,
    /// The panel sizes the user gave each project's window, by project
    /// (its folder or URL as opened).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub panel_sizes: std::collections::BTreeMap<String, PanelSizes>,
}

/// The sizes of the window's resizable panels, in points (0: not set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelSizes {
    #[serde(default)]
    pub browser_width: u32,
    #[serde(default)]
    pub controls_width: u32,
    #[serde(default)]
    pub training_height: u32,
}

impl PanelSizes {
    /// A size in points, or `default` where none was set.
    pub fn or(value: u32, default: f32) -> f32 {
        if value == 0 { default } else { value as f32 }
    }
}

impl Settings {
    fn file(data_dir: &Path) -> PathBuf {
        data_dir.join("settings.json")
    }

    /// Reads the settings. A missing file gives the defaults (the annotator
    /// is then the login name); a file that cannot be read or parsed is an
    /// error naming it, so the caller can say so instead of silently
    /// starting over.
    pub fn load(data_dir: &Path) -> Result<Self, String> {
        let file = Self::file(data_dir);
        let mut settings: Settings = match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| format!("settings file {} is corrupt ({e})", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => return Err(format!("cannot read settings file {}: {e}", file.display())),
        };
        settings.annotator =
            crate::store::annotator_name(&settings.annotator).unwrap_or_else(|_| login_annotator());
        Ok(settings)
    }

    /// [`Settings::load`], falling back to the defaults when the file is
    /// corrupt: the bad file is kept aside as `settings.json.corrupt` (never
    /// overwritten by the next save) and the message says where.
    pub fn load_or_recover(data_dir: &Path) -> (Self, Option<String>) {
        match Self::load(data_dir) {
            Ok(settings) => (settings, None),
            Err(problem) => {
                let file = Self::file(data_dir);
                let aside = data_dir.join("settings.json.corrupt");
                let kept = std::fs::rename(&file, &aside).is_ok();
                let settings = Settings {
                    annotator: login_annotator(),
                    ..Settings::default()
                };
                let message = if kept {
                    format!(
                        "{problem}; it was kept as {} and default settings are used",
                        aside.display()
                    )
                } else {
                    format!("{problem}; default settings are used")
                };
                (settings, Some(message))
            }
        }
    }

    /// Writes the settings durably (temporary file, fsync, rename).
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(data_dir)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::durable::write_atomic(&Self::file(data_dir), text.as_bytes())
    }

    /// Puts a project first in the recent list; a team project's URL is
    /// kept without its password (settings are a plain file).
    pub fn remember_project(&mut self, root: &Path) {
        let root = match root.to_str().filter(|t| crate::store::postgres::is_url(t)) {
            Some(url) => PathBuf::from(crate::store::postgres::without_password(url)),
            None => std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
        };
        self.recent_projects.retain(|p| p != &root);
        self.recent_projects.insert(0, root);
        self.recent_projects.truncate(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_settings_file_is_reported_and_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Settings::load(dir.path()).unwrap().recent_projects,
            Vec::<PathBuf>::new(),
            "missing is fine"
        );
        std::fs::write(
            dir.path().join("settings.json"),
            "{\"annotator\": \"ana\", \"recent_projects\": [",
        )
        .unwrap();
        let error = Settings::load(dir.path()).unwrap_err();
        assert!(error.contains("settings.json is corrupt"), "{error}");
        let (mut settings, message) = Settings::load_or_recover(dir.path());
        assert!(message.unwrap().contains("settings.json.corrupt"));
        assert!(settings.recent_projects.is_empty());
        settings.remember_project(Path::new("postgres://ana:secret@db/team?host=/s"));
        assert_eq!(
            settings.recent_projects[0],
            Path::new("postgres://ana@db/team?host=/s")
        );
        assert!(
            dir.path().join("settings.json.corrupt").is_file(),
            "nothing the user had is thrown away"
        );
        let saved = Settings {
            annotator: "ana".into(),
            recent_projects: vec![],
            panel_sizes: [(
                "/p".to_string(),
                PanelSizes {
                    browser_width: 410,
                    ..PanelSizes::default()
                },
            )]
            .into(),
        };
        saved.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), saved);
    }

    #[test]
    fn the_annotator_name_is_trimmed_and_never_the_reserved_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("settings.json"),
            r#"{"annotator": " ana ", "recent_projects": []}"#,
        )
        .unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap().annotator, "ana");
        std::fs::write(
            dir.path().join("settings.json"),
            r#"{"annotator": "adjudicated", "recent_projects": []}"#,
        )
        .unwrap();
        assert_ne!(Settings::load(dir.path()).unwrap().annotator, "adjudicated");
    }
}
