//! Deterministic generators for data no one shipped: CT phantoms, ROP
//! fundus photographs, thyroid ultrasound frames, lung screening cases (CT +
//! questionnaire), osteoporosis screening cases (CT series + record), brain
//! tumours in four MRI sequences. Same seed, same bytes.

pub mod bone;
pub mod brain_tumour;
pub mod canvas;
pub mod fundus;
pub mod lung;
pub mod phantom;
pub mod ultrasound;

pub use crate::rng::Rng;
