//! The review queue's eyes: in a screening project the graders' work is the
//! eye grade, so an eye whose graders disagree (and that no adjudication
//! settles) waits for a reviewer beside the items. A verdict names one
//! grader's current grade (by the time it was given); accepting it makes it
//! the eye's adjudicated grade, rejecting it (with a reason) returns the eye
//! to that grader, whose *Next eye* hands it to them first. Verdicts are
//! append-only rows of `eye_reviews`.

use std::collections::{BTreeMap, HashMap};

use super::db::{Sql, args};
use super::exams::{EyeRef, eye_consensus, insert_eye_grade};
use super::queue::{Verdict, check_reason};
use super::{ADJUDICATOR, Project, StoreError, annotator_name};
use crate::rop::grade::EyeGrade;

/// The table of eye verdicts (a later table; on PostgreSQL layout 3).
pub(crate) const EYE_REVIEWS_SQL: &str = "
CREATE TABLE IF NOT EXISTS eye_reviews (
    id INTEGER PRIMARY KEY,
    exam_id INTEGER NOT NULL,
    eye TEXT NOT NULL CHECK (eye IN ('OD', 'OS')),
    annotator TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject')),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS eye_reviews_by_eye ON eye_reviews (exam_id, eye, annotator, id);
";

/// Why an eye waits for a reviewer.
#[derive(Clone, Debug, PartialEq)]
pub struct EyeReviewEntry {
    pub eye: EyeRef,
    /// The grade fields the graders differ on.
    pub disputed: Vec<&'static str>,
    /// Graders whose current grade has no verdict yet.
    pub waiting: Vec<String>,
    /// When the oldest of those grades was given (database time).
    pub since: String,
}

/// Each grader's current grade of each eye, with when it was given.
type CurrentGrades = BTreeMap<EyeRef, BTreeMap<String, (EyeGrade, String)>>;

impl Project {
    /// The eyes waiting for a reviewer, oldest first: graders disagree, no
    /// adjudication settles it, and some grader's current grade has no
    /// verdict yet.
    pub fn eye_review_queue(&self) -> Result<Vec<EyeReviewEntry>, StoreError> {
        if !self.has_table("eye_reviews")? {
            return Ok(Vec::new());
        }
        let reviewed = self.reviewed_grades()?;
        let mut entries = Vec::new();
        for (eye, by) in self.current_grades()? {
            let grades: BTreeMap<String, EyeGrade> = by
                .iter()
                .map(|(who, (g, _))| (who.clone(), g.clone()))
                .collect();
            let super::exams::EyeConsensus::Disputed(disputed) = eye_consensus(&grades) else {
                continue;
            };
            let mut waiting: Vec<(&String, &String)> = by
                .iter()
                .filter(|(who, _)| who.as_str() != ADJUDICATOR)
                .filter(|(who, (_, at))| {
                    reviewed
                        .get(&(eye.to_string(), (*who).clone()))
                        .is_none_or(|last| last < at)
                })
                .map(|(who, (_, at))| (who, at))
                .collect();
            if waiting.is_empty() {
                continue;
            }
            waiting.sort_by(|a, b| a.1.cmp(b.1));
            entries.push(EyeReviewEntry {
                since: waiting[0].1.clone(),
                waiting: waiting.iter().map(|(who, _)| (*who).clone()).collect(),
                eye,
                disputed,
            });
        }
        entries.sort_by(|a, b| a.since.cmp(&b.since).then(a.eye.cmp(&b.eye)));
        Ok(entries)
    }

    fn current_grades(&self) -> Result<CurrentGrades, StoreError> {
        let mut out: CurrentGrades = BTreeMap::new();
        for stored in self.eye_grades()? {
            out.entry(stored.eye)
                .or_default()
                .insert(stored.annotator, (stored.grade, stored.graded_at));
        }
        Ok(out)
    }

    /// The newest grade time each (eye, grader) has a verdict on.
    fn reviewed_grades(&self) -> Result<HashMap<(String, String), String>, StoreError> {
        let rows = self.db.query(
            "SELECT i.name, e.exam_date, r.eye, r.annotator, max(r.graded_at) FROM eye_reviews r \
             JOIN exams e ON e.id = r.exam_id JOIN infants i ON i.id = e.infant_id \
             GROUP BY i.name, e.exam_date, r.eye, r.annotator",
            args![],
        )?;
        let mut out = HashMap::new();
        for row in rows {
            let (infant, date, eye): (String, String, String) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            out.insert((format!("{infant}/{date}/{eye}"), row.get(3)?), row.get(4)?);
        }
        Ok(out)
    }

    /// Records `reviewer`'s verdict on `annotator`'s current grade of `eye`
    /// (append-only). Accepting it makes that grade the eye's adjudicated
    /// grade; a rejection needs a reason and returns the eye to the grader.
    pub fn review_eye(
        &mut self,
        eye: &EyeRef,
        annotator: &str,
        reviewer: &str,
        verdict: Verdict,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reviewer = annotator_name(reviewer)?;
        let reason = check_reason(verdict, reason)?;
        let (grade, graded_at) = self
            .current_grades()?
            .remove(eye)
            .and_then(|mut by| by.remove(annotator))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "{} has no grade of {eye}",
                    crate::user_file::shown(annotator)
                ))
            })?;
        let exam = self.exam_id(eye)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO eye_reviews (exam_id, eye, annotator, graded_at, reviewer, verdict, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                args![
                    exam,
                    eye.eye.name(),
                    annotator,
                    graded_at,
                    reviewer,
                    verdict.as_str(),
                    reason
                ],
            )?;
            if verdict == Verdict::Accept {
                insert_eye_grade(tx, exam, eye, ADJUDICATOR, &grade)?;
            }
            Ok(())
        })
    }
}
