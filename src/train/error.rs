//! Why a run could not start or go on.

use super::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot train: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot train: {0}")]
    Data(String),
    #[error(
        "training stopped: the loss became {value} at epoch {epoch}, step {step}; the last good checkpoint is kept"
    )]
    NotFinite { value: f64, epoch: usize, step: u64 },
    #[error("cannot write the run: {0}")]
    Io(#[from] std::io::Error),
}
