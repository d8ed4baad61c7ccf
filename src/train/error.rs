//! Why a run could not start or go on.

use super::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// What the project or a run lacks (said by the command that failed:
    /// train, eval, predict, explain).
    #[error("{0}")]
    Data(String),
    #[error(
        "training stopped: the loss became {value} at epoch {epoch}, step {step}; the last good checkpoint is kept"
    )]
    NotFinite { value: f64, epoch: usize, step: u64 },
    #[error("cannot write the run: {0}")]
    Io(#[from] std::io::Error),
}

/// A checkpoint that does not fit its network: Burn's error lists every
/// tensor it missed (hundreds of names); its first 200 characters say what.
pub(crate) fn checkpoint_mismatch(error: impl std::fmt::Display) -> String {
    let text = error.to_string();
    let chars = text.chars().count();
    if chars <= 200 {
        return text;
    }
    let head: String = text.chars().take(200).collect();
    format!("{head}… ({chars} characters in all)")
}
