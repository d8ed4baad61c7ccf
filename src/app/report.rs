//! An infant's screening report: one self-contained HTML file (styles
//! inline, thumbnails as PNG data URIs) that opens in any browser and
//! prints on A4 — the infant's birth details, then every exam in order
//! with each eye's grades by grader, its reference (adjudicated or agreed),
//! the ETROP flags that follow, and the thumbnails of its fields with their
//! quality. Everything a user typed is escaped.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use super::exams::{ExamEntry, ExamsView, EyeEntry};
use super::thumbnail;
use crate::rop::exam::{Eye, weeks_and_days};
use crate::rop::grade::{EyeGrade, flag_word};
use crate::store::exams::{EyeConsensus, eye_consensus};
use crate::store::{Project, StoreError};

/// The page's styles: A4 with 14 mm margins, an exam never split across
/// pages where it fits on one, the two eyes side by side.
const STYLE: &str = "
@page { size: A4; margin: 14mm; }
body { font: 10.5pt/1.35 -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; color: #111; margin: 0 auto; max-width: 182mm; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 12pt; margin: 0 0 2mm; border-bottom: 1px solid #999; }
.meta { color: #333; margin-bottom: 5mm; }
.exam { break-inside: avoid; page-break-inside: avoid; margin-bottom: 6mm; }
.eyes { display: flex; gap: 4mm; }
.eye { flex: 1; border: 1px solid #bbb; border-radius: 2mm; padding: 2mm 3mm; }
.eye h3 { font-size: 11pt; margin: 0 0 1mm; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th { white-space: nowrap; }
td, th { text-align: left; padding: 0.4mm 1.5mm 0.4mm 0; vertical-align: top; }
.flags { margin: 1mm 0; }
.treat { color: #a00000; font-weight: bold; }
.photos { display: flex; flex-wrap: wrap; gap: 2mm; margin-top: 1.5mm; }
figure { margin: 0; width: 24mm; }
figure img { width: 24mm; height: 24mm; object-fit: cover; border-radius: 1mm; background: #000; }
figcaption { font-size: 7.5pt; color: #333; }
.missing { width: 24mm; height: 24mm; background: #ddd; font-size: 7pt; display: flex; align-items: center; justify-content: center; }
footer { font-size: 8pt; color: #555; margin-top: 6mm; }
";

/// Text as HTML (`& < > " '` escaped).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report of infant `infant` of the project at `root`, as HTML.
pub fn infant_report(root: &Path, infant: &str) -> Result<String, StoreError> {
    let project = Project::open(root)?;
    let infants = project.infants()?;
    let details = infants
        .get(infant)
        .ok_or_else(|| StoreError::Invalid(format!("no infant {infant:?} in this project")))?;
    let view = ExamsView::load(&project)?;
    let exams: Vec<&ExamEntry> = view.exams.iter().filter(|e| e.infant == infant).collect();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>ROP screening — {}</title><style>{STYLE}</style></head><body>\n",
        escape(infant)
    );
    let _ = write!(
        html,
        "<h1>ROP screening report — infant {}</h1>",
        escape(infant)
    );
    let mut meta = Vec::new();
    if let Some(sex) = &details.sex {
        meta.push(format!("sex {}", escape(sex)));
    }
    if let Some(ga) = details.ga {
        meta.push(format!("born at {} weeks", ga.text()));
    }
    if let Some(weight) = details.birth_weight_g {
        meta.push(format!("{weight} g"));
    }
    if let Some(date) = details.birth_date {
        meta.push(format!("born {date}"));
    }
    meta.push(format!("{} exams", exams.len()));
    let _ = write!(html, "<div class=\"meta\">{}</div>\n", meta.join(" · "));
    for exam in exams {
        exam_html(&mut html, &project, exam)?;
    }
    let _ = write!(
        html,
        "<footer>Grades as recorded in Loupe; the reference is the adjudicated grade, \
         else the grade every grader gave. ETROP Type 1 / Type 2 and referral-warranted \
         ROP are derived from it, never typed.</footer></body></html>\n"
    );
    Ok(html)
}

fn exam_html(html: &mut String, project: &Project, exam: &ExamEntry) -> Result<(), StoreError> {
    let pma = exam.pma_days.map_or(String::new(), |d| {
        format!(", postmenstrual age {} weeks", weeks_and_days(d))
    });
    let _ = write!(
        html,
        "<section class=\"exam\"><h2>Exam of {}{pma}</h2><div class=\"eyes\">",
        exam.date
    );
    for eye in &exam.eyes {
        eye_html(html, project, eye)?;
    }
    html.push_str("</div></section>\n");
    Ok(())
}

fn eye_html(html: &mut String, project: &Project, entry: &EyeEntry) -> Result<(), StoreError> {
    let title = match entry.eye {
        Eye::Right => "Right eye (OD)",
        Eye::Left => "Left eye (OS)",
    };
    let _ = write!(html, "<div class=\"eye\"><h3>{title}</h3><table>");
    if entry.grades.is_empty() {
        html.push_str("<tr><td>not graded</td></tr>");
    }
    for (grader, grade) in &entry.grades {
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(grader),
            escape(&grade.summary())
        );
    }
    html.push_str("</table>");
    let (reference, grade): (String, Option<&EyeGrade>) = match eye_consensus(&entry.grades) {
        EyeConsensus::Ungraded => ("no reference: not graded".into(), None),
        EyeConsensus::Adjudicated(g) => ("Reference (adjudicated)".into(), Some(g)),
        EyeConsensus::Agreed(g) => ("Reference (graders agree)".into(), Some(g)),
        EyeConsensus::Disputed(fields) => (
            format!("no reference: graders differ on {}", fields.join(", ")),
            None,
        ),
    };
    let _ = write!(html, "<div class=\"flags\">{}", escape(&reference));
    if let Some(g) = grade {
        let class = if g.type1() == Some(true) {
            " class=\"treat\""
        } else {
            ""
        };
        let _ = write!(
            html,
            ": {}<br><span{class}>ETROP Type 1: {} · Type 2: {} · referral-warranted: {}</span>",
            escape(&g.summary()),
            flag_word(g.type1()),
            flag_word(g.type2()),
            flag_word(g.referral_warranted())
        );
    }
    html.push_str("</div><div class=\"photos\">");
    for image in &entry.images {
        let quality = image.quality.map_or("quality not recorded", |q| q.name());
        let _ = write!(html, "<figure>{}", thumbnail_html(project, image.item_id)?);
        let _ = write!(
            html,
            "<figcaption>{}, {}</figcaption></figure>",
            image.field.name(),
            quality
        );
    }
    html.push_str("</div></div>");
    Ok(())
}

/// An `<img>` of the photograph's thumbnail as a PNG data URI, or a grey
/// box saying why there is none (a missing or unreadable file).
fn thumbnail_html(project: &Project, item_id: i64) -> Result<String, StoreError> {
    let item = project.item(item_id)?;
    let drawn = thumbnail::load(
        project.files_root(),
        &item.content_hash.replace(':', "_"),
        &project.resolve(&item),
        None,
    );
    let png = drawn.and_then(|image| {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut bytes, image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        Ok(bytes.into_inner())
    });
    Ok(match png {
        Ok(bytes) => format!(
            "<img alt=\"photograph {item_id}\" src=\"data:image/png;base64,{}\">",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
        Err(why) => format!("<div class=\"missing\">{}</div>", escape(&why)),
    })
}

/// Writes `html` to `out`, refusing to replace an existing file unless
/// `replace` (never a silent overwrite); the file appears whole or not at all.
pub fn write_report(out: &Path, html: &str, replace: bool) -> Result<(), StoreError> {
    if out.exists() && !replace {
        return Err(StoreError::Invalid(format!(
            "{} exists; choose another file or replace it on purpose",
            out.display()
        )));
    }
    crate::durable::write_atomic(out, html.as_bytes()).map_err(|source| StoreError::Io {
        path: out.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<b>A&B</b> \"x\" 'y'"),
            "&lt;b&gt;A&amp;B&lt;/b&gt; &quot;x&quot; &#39;y&#39;"
        );
    }
}
