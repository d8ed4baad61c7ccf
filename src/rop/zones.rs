//! ICROP3's posterior zones drawn on a posterior-pole photograph from two
//! points the grader clicks, in image pixels: zone I is the circle centred
//! on the optic disc whose radius is twice the disc–fovea distance; the
//! posterior zone II boundary lies two disc diameters beyond zone I (the
//! disc diameter entered or drawn once per image). Nothing here assumes a
//! camera's field of view: the circles scale with the clicked anatomy.

/// A point in image pixels (x right, y down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub fn distance(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// What a grader marked on one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoneMarks {
    pub disc_centre: Point,
    pub fovea_centre: Point,
    /// The optic disc's diameter in pixels, once entered or drawn.
    pub disc_diameter_px: Option<f64>,
}

/// The circles to draw, centred on the disc.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoneCircles {
    pub centre: Point,
    pub zone1_radius_px: f64,
    /// Zone I's radius plus two disc diameters, when the diameter is known.
    pub posterior_zone2_radius_px: Option<f64>,
}

impl ZoneMarks {
    /// The circles, or why there are none (disc and fovea at one point, a
    /// diameter that is not a positive finite number).
    pub fn circles(&self) -> Result<ZoneCircles, String> {
        let distance = self.disc_centre.distance(self.fovea_centre);
        if !distance.is_finite() || distance < 1.0 {
            return Err("the disc and fovea centres must be at least a pixel apart".into());
        }
        let zone1 = 2.0 * distance;
        let posterior = match self.disc_diameter_px {
            Some(d) if d.is_finite() && d > 0.0 => Some(zone1 + 2.0 * d),
            Some(d) => return Err(format!("disc diameter {d} px is not a positive length")),
            None => None,
        };
        Ok(ZoneCircles {
            centre: self.disc_centre,
            zone1_radius_px: zone1,
            posterior_zone2_radius_px: posterior,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_one_is_twice_the_disc_fovea_distance_and_zone_two_two_diameters_beyond() {
        // Disc at (300, 200), fovea 3-4-5 away: distance 50 px.
        let marks = ZoneMarks {
            disc_centre: Point { x: 300.0, y: 200.0 },
            fovea_centre: Point { x: 330.0, y: 240.0 },
            disc_diameter_px: Some(18.0),
        };
        let circles = marks.circles().unwrap();
        assert_eq!(circles.centre, marks.disc_centre);
        assert_eq!(circles.zone1_radius_px, 100.0);
        assert_eq!(circles.posterior_zone2_radius_px, Some(136.0));
        let no_diameter = ZoneMarks {
            disc_diameter_px: None,
            ..marks
        };
        assert_eq!(
            no_diameter.circles().unwrap().posterior_zone2_radius_px,
            None
        );
        let same = ZoneMarks {
            fovea_centre: marks.disc_centre,
            ..marks
        };
        assert!(same.circles().is_err());
        let negative = ZoneMarks {
            disc_diameter_px: Some(-3.0),
            ..marks
        };
        assert!(negative.circles().unwrap_err().contains("positive"));
    }
}
