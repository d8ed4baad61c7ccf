//! Crop boxes a clinician corrected in the window: one append-only row per
//! change (item, annotator, box or none for "back to automatic", time);
//! an item's current crop is its latest row. Training and prediction use a
//! corrected box instead of the automatic one.

use std::collections::BTreeMap;

use super::db::{Sql, args};

use super::{Project, StoreError, check_stored_annotator};

/// A corrected crop: `[x0, y0, x1, y1]`, inclusive, in stored image pixels.
pub type CropBox = [u32; 4];

/// The one check of a box against its image: ordered corners, inside it.
pub fn check_crop(b: CropBox, width: u32, height: u32) -> Result<(), StoreError> {
    if b[0] > b[2] || b[1] > b[3] || b[2] >= width || b[3] >= height {
        return Err(StoreError::Invalid(format!(
            "crop box {b:?} is not inside the {width}×{height} image (x0 ≤ x1 < width, y0 ≤ y1 < height)"
        )));
    }
    Ok(())
}

impl Project {
    /// Records `annotator`'s correction of an item's crop (`None`: back to
    /// the automatic crop), committed before it returns.
    pub fn set_crop(
        &mut self,
        item_id: i64,
        annotator: &str,
        crop: Option<CropBox>,
    ) -> Result<(), StoreError> {
        check_stored_annotator(annotator)?;
        let [x0, y0, x1, y1] = crop.map_or([None; 4], |b| b.map(Some));
        self.write(|tx| {
            tx.execute(
                "INSERT INTO crops (item_id, annotator, x0, y0, x1, y1) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![item_id, annotator, x0, y0, x1, y1],
            )?;
            Ok(())
        })
    }

    /// An item's corrected crop, if its latest row sets one.
    pub fn crop(&self, item_id: i64) -> Result<Option<CropBox>, StoreError> {
        if !self.has_table("crops")? {
            return Ok(None);
        }
        let row: Option<[Option<u32>; 4]> = self.db.row_opt(
            "SELECT x0, y0, x1, y1 FROM crops WHERE item_id = ?1 ORDER BY id DESC LIMIT 1",
            args![item_id],
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
        )?;
        Ok(match row {
            Some([Some(a), Some(b), Some(c), Some(d)]) => Some([a, b, c, d]),
            _ => None,
        })
    }

    /// Every item's corrected crop.
    pub fn all_crops(&self) -> Result<BTreeMap<i64, CropBox>, StoreError> {
        if !self.has_table("crops")? {
            return Ok(BTreeMap::new());
        }
        let rows = self.db.map_rows(
            "SELECT item_id, x0, y0, x1, y1 FROM crops c
                 WHERE id = (SELECT max(id) FROM crops d WHERE d.item_id = c.item_id)",
            args![],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<Option<u32>>(1)?,
                    r.get::<Option<u32>>(2)?,
                    r.get::<Option<u32>>(3)?,
                    r.get::<Option<u32>>(4)?,
                ))
            },
        )?;
        let mut out = BTreeMap::new();
        for row in rows {
            if let (id, Some(a), Some(b), Some(c), Some(d)) = row? {
                out.insert(id, [a, b, c, d]);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Pool, Schema};

    #[test]
    fn the_latest_correction_wins_and_none_goes_back_to_automatic() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a.png");
        image::GrayImage::from_pixel(10, 10, image::Luma([9u8]))
            .save(&image)
            .unwrap();
        let mut project = Project::create(&dir.path().join("p"), &Schema::thyroid()).unwrap();
        let id = match project.add_item(&image, Pool::Unlabeled).unwrap() {
            crate::store::AddOutcome::Added(id) => id,
            other => panic!("{other:?}"),
        };
        assert_eq!(project.crop(id).unwrap(), None);
        project.set_crop(id, "ana", Some([1, 2, 8, 9])).unwrap();
        project.set_crop(id, "ben", Some([0, 0, 5, 5])).unwrap();
        let reopened = Project::open(&dir.path().join("p")).unwrap();
        assert_eq!(reopened.crop(id).unwrap(), Some([0, 0, 5, 5]));
        assert_eq!(reopened.all_crops().unwrap().get(&id), Some(&[0, 0, 5, 5]));
        project.set_crop(id, "ana", None).unwrap();
        assert_eq!(project.crop(id).unwrap(), None);
        assert!(project.all_crops().unwrap().is_empty());
        assert!(check_crop([3, 0, 2, 5], 10, 10).is_err());
        assert!(check_crop([0, 0, 10, 5], 10, 10).is_err());
        assert!(check_crop([0, 0, 9, 9], 10, 10).is_ok());
    }
}
