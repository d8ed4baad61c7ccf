//! The zone overlay of a posterior-pole photograph: the current grader's
//! optic disc and fovea marks (read from and saved to the store), whether
//! the circles are shown, and the clicks still to place. It owns
//! [`ZoneCommand`]: a click places the next mark — disc centre, foveal
//! centre, then (once per image) a point on the disc's edge for its
//! diameter — and every completed change is on disk before the next frame.

use crate::rop::zones::{Point, ZoneMarks};
use crate::store::{Project, StoreError};

/// The next click's meaning while marking.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Placing {
    #[default]
    Idle,
    Disc,
    Fovea {
        disc: Point,
    },
    /// A point on the disc's edge: the diameter is twice its distance
    /// from the disc centre.
    Rim {
        disc: Point,
        fovea: Point,
    },
}

impl Placing {
    /// What the grader is asked to click, when marking.
    pub fn prompt(&self) -> Option<&'static str> {
        match self {
            Placing::Idle => None,
            Placing::Disc => Some("Click the centre of the optic disc"),
            Placing::Fovea { .. } => Some("Click the centre of the fovea"),
            Placing::Rim { .. } => {
                Some("Click the edge of the optic disc for its diameter (Esc: skip)")
            }
        }
    }
}

/// One posterior-pole image's overlay for the current grader.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneOverlay {
    pub item_id: i64,
    /// The grader's stored marks.
    pub marks: Option<ZoneMarks>,
    pub shown: bool,
    pub placing: Placing,
}

/// What the overlay's controls and clicks ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum ZoneCommand {
    /// Show or hide the circles (the `Z` key).
    Toggle,
    /// Start placing the disc and fovea (again).
    Mark,
    /// A click on the image, in image pixels (x right, y down).
    Click([f64; 2]),
    /// The disc's diameter entered by hand (`None`: forget it).
    SetDiameter(Option<f64>),
    /// Forget this grader's marks on the image.
    Clear,
    /// Stop placing; what is already saved stays.
    Cancel,
}

impl ZoneOverlay {
    /// The overlay of `item_id` with `annotator`'s stored marks.
    pub fn load(
        project: &Project,
        item_id: i64,
        annotator: &str,
        shown: bool,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            item_id,
            marks: project.zone_marks(item_id, annotator)?,
            shown,
            placing: Placing::Idle,
        })
    }

    /// Applies `command` as `annotator`; an error is for the user and
    /// leaves the stored marks as they were.
    pub fn apply(
        &mut self,
        command: ZoneCommand,
        project: &mut Project,
        annotator: &str,
    ) -> Result<(), String> {
        let next = match command {
            ZoneCommand::Toggle => {
                self.shown = !self.shown;
                return Ok(());
            }
            ZoneCommand::Mark => {
                self.shown = true;
                self.placing = Placing::Disc;
                return Ok(());
            }
            ZoneCommand::Cancel => {
                self.placing = Placing::Idle;
                return Ok(());
            }
            ZoneCommand::Clear => {
                self.placing = Placing::Idle;
                None
            }
            ZoneCommand::SetDiameter(diameter) => {
                let marks = self.marks.ok_or("mark the disc and fovea first")?;
                Some(ZoneMarks {
                    disc_diameter_px: diameter,
                    ..marks
                })
            }
            ZoneCommand::Click([x, y]) => {
                let at = Point { x, y };
                match self.placing {
                    Placing::Idle => return Ok(()),
                    Placing::Disc => {
                        self.placing = Placing::Fovea { disc: at };
                        return Ok(());
                    }
                    Placing::Fovea { disc } => {
                        // A diameter drawn before stays: it is the disc's, once per image.
                        let kept = self.marks.and_then(|m| m.disc_diameter_px);
                        self.placing = match kept {
                            Some(_) => Placing::Idle,
                            None => Placing::Rim { disc, fovea: at },
                        };
                        Some(ZoneMarks {
                            disc_centre: disc,
                            fovea_centre: at,
                            disc_diameter_px: kept,
                        })
                    }
                    Placing::Rim { disc, fovea } => {
                        self.placing = Placing::Idle;
                        Some(ZoneMarks {
                            disc_centre: disc,
                            fovea_centre: fovea,
                            disc_diameter_px: Some(2.0 * disc.distance(at)),
                        })
                    }
                }
            }
        };
        if let Some(marks) = &next {
            // Refuse before anything is placed as stored (one pixel apart, …).
            if let Err(why) = marks.circles() {
                self.placing = Placing::Idle;
                return Err(why);
            }
        }
        project
            .set_zone_marks(self.item_id, annotator, next.as_ref())
            .map_err(|e| e.to_string())?;
        self.marks = next;
        Ok(())
    }
}
