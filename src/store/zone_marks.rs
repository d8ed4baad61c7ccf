//! Where each grader put the optic disc and the fovea on a posterior-pole
//! photograph (and the disc's diameter), from which the window draws
//! ICROP3's zone I and posterior zone II ([`crate::rop::zones`]). One
//! append-only row per change (item, grader, marks or none for "cleared",
//! time); a grader's current marks are their latest row.

use super::db::{Sql, args};

use super::{Project, StoreError, check_stored_annotator};
use crate::rop::zones::{Point, ZoneMarks};

/// The table (made by the store's later-tables SQL) zone marks need.
pub(crate) const ZONE_MARKS_SQL: &str = "
CREATE TABLE IF NOT EXISTS zone_marks (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    annotator TEXT NOT NULL,
    disc_x REAL,
    disc_y REAL,
    fovea_x REAL,
    fovea_y REAL,
    disc_diameter_px REAL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS zone_marks_by_item ON zone_marks (item_id, annotator, id);
";

impl Project {
    /// Records `annotator`'s marks on an item (`None`: cleared), committed
    /// before it returns; marks that draw no circles are refused.
    pub fn set_zone_marks(
        &mut self,
        item_id: i64,
        annotator: &str,
        marks: Option<&ZoneMarks>,
    ) -> Result<(), StoreError> {
        check_stored_annotator(annotator)?;
        if !self.has_table("zone_marks")? {
            return Err(StoreError::Invalid(
                "this project predates zone marks and cannot be written here (read-only?)".into(),
            ));
        }
        if let Some(marks) = marks {
            marks.circles().map_err(StoreError::Invalid)?;
        }
        let disc = marks.map(|m| m.disc_centre);
        let fovea = marks.map(|m| m.fovea_centre);
        let diameter = marks.and_then(|m| m.disc_diameter_px);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO zone_marks (item_id, annotator, disc_x, disc_y, fovea_x, fovea_y, \
                 disc_diameter_px) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                args![
                    item_id,
                    annotator,
                    disc.map(|p| p.x),
                    disc.map(|p| p.y),
                    fovea.map(|p| p.x),
                    fovea.map(|p| p.y),
                    diameter
                ],
            )?;
            Ok(())
        })
    }

    /// `annotator`'s current marks on an item, if their latest row sets some.
    pub fn zone_marks(
        &self,
        item_id: i64,
        annotator: &str,
    ) -> Result<Option<ZoneMarks>, StoreError> {
        if !self.has_table("zone_marks")? {
            return Ok(None);
        }
        let row: Option<[Option<f64>; 5]> = self.db.row_opt(
            "SELECT disc_x, disc_y, fovea_x, fovea_y, disc_diameter_px FROM zone_marks \
                 WHERE item_id = ?1 AND annotator = ?2 ORDER BY id DESC LIMIT 1",
            args![item_id, annotator],
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]),
        )?;
        Ok(match row {
            Some([Some(dx), Some(dy), Some(fx), Some(fy), diameter]) => Some(ZoneMarks {
                disc_centre: Point { x: dx, y: dy },
                fovea_centre: Point { x: fx, y: fy },
                disc_diameter_px: diameter,
            }),
            _ => None,
        })
    }
}

/// The columns of `loupe export --format zone-marks`.
pub const ZONE_MARK_COLUMNS: [&str; 10] = [
    "path",
    "annotator",
    "disc_x",
    "disc_y",
    "fovea_x",
    "fovea_y",
    "disc_diameter_px",
    "zone1_radius_px",
    "posterior_zone2_radius_px",
    "marked_at",
];

/// Every grader's current marks, one row per image and grader (cleared
/// marks left out), with the circles they draw, in image pixels.
pub fn to_zone_marks_csv(project: &Project) -> Result<String, StoreError> {
    let mut out = super::csv::line(&ZONE_MARK_COLUMNS);
    if !project.has_table("zone_marks")? {
        return Ok(out);
    }
    let rows = project.db.map_rows(
        "SELECT i.path, z.annotator, z.disc_x, z.disc_y, z.fovea_x, z.fovea_y, \
             z.disc_diameter_px, z.created_at FROM zone_marks z JOIN items i ON i.id = z.item_id \
             WHERE z.id = (SELECT MAX(id) FROM zone_marks n WHERE n.item_id = z.item_id \
             AND n.annotator = z.annotator) AND z.disc_x IS NOT NULL \
             ORDER BY i.path COLLATE BINARY, z.annotator COLLATE BINARY",
        args![],
        |r| {
            Ok((
                [
                    r.get::<String>(0)?,
                    r.get::<String>(1)?,
                    r.get::<String>(7)?,
                ],
                [r.get::<f64>(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                r.get::<Option<f64>>(6)?,
            ))
        },
    )?;
    let number = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}"));
    for row in rows {
        let ([path, annotator, marked_at], [dx, dy, fx, fy], diameter) = row?;
        let marks = ZoneMarks {
            disc_centre: Point { x: dx, y: dy },
            fovea_centre: Point { x: fx, y: fy },
            disc_diameter_px: diameter,
        };
        let circles = marks.circles().ok();
        out.push_str(&super::csv::line(&[
            path,
            annotator,
            number(Some(dx)),
            number(Some(dy)),
            number(Some(fx)),
            number(Some(fy)),
            number(diameter),
            number(circles.map(|c| c.zone1_radius_px)),
            number(circles.and_then(|c| c.posterior_zone2_radius_px)),
            marked_at,
        ]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AddOutcome, Pool, Schema};

    #[test]
    fn each_grader_keeps_their_own_latest_marks_and_may_clear_them() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("pole.png");
        image::GrayImage::from_pixel(40, 30, image::Luma([9u8]))
            .save(&image)
            .unwrap();
        let mut project = Project::create(&dir.path().join("p"), &Schema::rop_exam()).unwrap();
        let AddOutcome::Added(id) = project.add_item(&image, Pool::Unlabeled).unwrap() else {
            panic!("not added");
        };
        let ana = ZoneMarks {
            disc_centre: Point { x: 10.5, y: 12.0 },
            fovea_centre: Point { x: 25.0, y: 14.25 },
            disc_diameter_px: None,
        };
        let ben = ZoneMarks {
            disc_diameter_px: Some(6.5),
            ..ana
        };
        assert_eq!(project.zone_marks(id, "ana").unwrap(), None);
        project.set_zone_marks(id, "ana", Some(&ana)).unwrap();
        project.set_zone_marks(id, "ben", Some(&ben)).unwrap();
        let reopened = Project::open(&dir.path().join("p")).unwrap();
        assert_eq!(reopened.zone_marks(id, "ana").unwrap(), Some(ana));
        assert_eq!(reopened.zone_marks(id, "ben").unwrap(), Some(ben));
        project.set_zone_marks(id, "ana", None).unwrap();
        assert_eq!(project.zone_marks(id, "ana").unwrap(), None);
        assert_eq!(project.zone_marks(id, "ben").unwrap(), Some(ben));
        // Disc and fovea at one point draw nothing: refused.
        let same = ZoneMarks {
            fovea_centre: ana.disc_centre,
            ..ana
        };
        assert!(project.set_zone_marks(id, "ana", Some(&same)).is_err());
    }
}
