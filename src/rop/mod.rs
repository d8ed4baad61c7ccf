//! Retinopathy of prematurity as ophthalmologists grade it: the unit a
//! clinician signs is an **eye at an exam**, graded by ICROP3 (zone, stage
//! with its extent in clock hours, plus, A-ROP, after treatment) from
//! several retinal fields, and treatment follows from that grade (ETROP
//! Type 1). A leaf of pure rules, no storage and no window:
//!
//! - [`grade`]: the eye grade's values, their names (CLI, CSV, form) and
//!   the derived ETROP Type 1 / Type 2 and referral-warranted flags.
//! - [`exam`]: eyes, retinal fields, image quality, gestational and
//!   postmenstrual age.
//! - [`dates`]: calendar dates (`YYYY-MM-DD`) and the days between them.
//! - [`zones`]: ICROP3's zone I and posterior zone II circles from the
//!   optic disc and the fovea.

pub mod dates;
pub mod exam;
pub mod grade;
pub mod zones;
