//! The exam view: an infant's exams as a timeline (postmenstrual age, the
//! worst stage per eye, Type 1 flags), the open exam's two eyes side by
//! side — each a grid of its photographs (field and quality under each,
//! a click shows it in the viewer) and the ICROP3 eye form with its clock
//! dial — the derived ETROP flags, and the previous exam's grade of the
//! same eye for progression. Draws from state; every change is a command.

use crate::app::exams::{EXAM_HOTKEYS, ExamEntry, ExamsView, EyeEntry, any_type1, worst_stage};
use crate::app::vocabulary::{ADJUDICATOR, EyeConsensus, eye_consensus};
use crate::app::{Commands, ExamCommand, LabelingCommand, ProjectSession};
use crate::rop::exam::{Eye, weeks_and_days};
use crate::rop::grade::{EyeGrade, Plus, Stage, Zone, flag_word};

use super::browser::{Thumbnails, thumbnail_button};

/// Reasons an eye may be ungradable, offered in the form.
const UNGRADABLE_REASONS: [&str; 3] = ["media opacity", "poor view", "incomplete exam"];

/// The share of the window's width the exam view takes (the viewer and
/// its controls keep the rest, so a clicked photograph is seen enlarged).
pub const EXAM_PANEL_FRACTION: f32 = 0.56;

/// The narrowest an eye's column may be: its form's widest row.
const EYE_MIN_WIDTH: f32 = 340.0;

/// The timeline's width, in points.
const TIMELINE_WIDTH: f32 = 210.0;

/// The edge of an exam photograph's thumbnail, in points.
const THUMB_CELL: f32 = 104.0;

/// The exam view, drawn in the panel that takes the browser's place while
/// it is open (the viewer stays visible beside it, so a photograph clicked
/// here is enlarged there and its zones can be marked).
pub fn exams_ui(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    annotator: &str,
    thumbnails: &mut Thumbnails,
    commands: &mut Commands,
) {
    let view = &session.exams;
    // A panel's `available_width` is the most it may grow to (content that
    // wide would grow it): lay out to the width it is given.
    let panel_width = EXAM_PANEL_FRACTION * ui.ctx().content_rect().width()
        - 2.0 * ui.spacing().window_margin.leftf();
    ui.horizontal(|ui| {
        ui.heading("Screening exams");
        if ui
            .button("Close")
            .on_hover_text("Back to the image browser")
            .clicked()
        {
            commands.push(ExamCommand::Show(false));
        }
    });
    ui.horizontal_wrapped(|ui| {
        if ui.button("Previous exam").clicked() {
            commands.push(ExamCommand::Step(-1));
        }
        if ui.button("Next exam").clicked() {
            commands.push(ExamCommand::Step(1));
        }
        if ui.button("Next eye not graded by me").clicked() {
            commands.push(ExamCommand::NextUngradedByMe);
        }
        if ui
            .button("Most uncertain eye")
            .on_hover_text(
                "The eye you have not graded whose photographs the last run is least sure of \
                 (by the uncertainty measure chosen in the browser)",
            )
            .clicked()
        {
            commands.push(ExamCommand::MostUncertainEye);
        }
        ui.weak(format!("grading as {annotator}"));
    });
    ui.separator();
    if view.exams.is_empty() {
        ui.label("No exams yet: import a screening cohort with loupe import DIR --exams EXAMS.csv");
        return;
    }
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(TIMELINE_WIDTH);
            egui::ScrollArea::vertical()
                .id_salt("timeline")
                .show(ui, |ui| ui.vertical(|ui| timeline_ui(ui, view, commands)));
        });
        ui.separator();
        // The open exam fills the rest of the panel's width, top to bottom.
        let width = (panel_width - TIMELINE_WIDTH - 3.0 * ui.spacing().item_spacing.x).max(300.0);
        egui::ScrollArea::vertical().id_salt("exam").show(ui, |ui| {
            ui.vertical(|ui| {
                ui.set_width(width);
                match view.open_exam() {
                    Some(exam) => exam_ui(ui, session, exam, annotator, thumbnails, commands),
                    None => {
                        ui.label("Pick an exam on the left.");
                    }
                }
            })
        });
    });
}

/// The exam view's keys while it is open: the form's hotkeys
/// ([`EXAM_HOTKEYS`]) on the active eye, `O`/`L` the right/left eye,
/// `→ J` / `← K` the next/previous exam, `N` the next eye not graded by
/// me. Returns whether the key was the exam view's.
pub fn exam_key(view: &ExamsView, key: egui::Key, commands: &mut Commands) -> bool {
    let typed = super::key_char(key);
    let command = match (key, typed) {
        (egui::Key::ArrowRight | egui::Key::J, _) => ExamCommand::Step(1),
        (egui::Key::ArrowLeft | egui::Key::K, _) => ExamCommand::Step(-1),
        (egui::Key::N, _) => ExamCommand::NextUngradedByMe,
        (egui::Key::O, _) => ExamCommand::ActiveEye(Eye::Right),
        (egui::Key::L, _) => ExamCommand::ActiveEye(Eye::Left),
        (_, Some(c)) if view.open_exam().is_some() => {
            match EXAM_HOTKEYS.iter().find(|(k, _, _)| *k == c) {
                Some(&(_, field, value)) => ExamCommand::SetField { field, value },
                None => return false,
            }
        }
        _ => return false,
    };
    commands.push(command);
    true
}

/// `OD 3` or `OD —` for an eye's worst stage, `Type 1` after it when a grader's grade is.
fn eye_summary(eye: &EyeEntry) -> String {
    let stage = worst_stage(eye).map_or("—".to_string(), |s| s.name().to_string());
    let flag = if any_type1(eye) { " Type 1" } else { "" };
    format!("{} {stage}{flag}", eye.eye.name())
}

fn timeline_ui(ui: &mut egui::Ui, view: &ExamsView, commands: &mut Commands) {
    egui::ScrollArea::vertical()
        .id_salt("exam timeline")
        .show(ui, |ui| {
            let mut infant = None;
            for (k, exam) in view.exams.iter().enumerate() {
                if infant != Some(&exam.infant) {
                    ui.strong(format!("Infant {}", exam.infant));
                    infant = Some(&exam.infant);
                }
                let pma = exam
                    .pma_days
                    .map_or(String::new(), |d| format!(" · PMA {}", weeks_and_days(d)));
                let text = format!(
                    "{}{pma} · {} · {}",
                    exam.date,
                    eye_summary(&exam.eyes[0]),
                    eye_summary(&exam.eyes[1])
                );
                if ui
                    .selectable_label(view.selected == Some(k), text)
                    .clicked()
                {
                    commands.push(ExamCommand::Select(k));
                }
            }
        });
}

fn exam_ui(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    exam: &ExamEntry,
    annotator: &str,
    thumbnails: &mut Thumbnails,
    commands: &mut Commands,
) {
    let pma = exam.pma_days.map_or(String::new(), |d| {
        format!(", postmenstrual age {}", weeks_and_days(d))
    });
    ui.horizontal_wrapped(|ui| {
        ui.heading(format!(
            "Infant {} — exam of {}{pma}",
            exam.infant, exam.date
        ));
        if ui
            .button("Report…")
            .on_hover_text("Save this infant's screening report: every exam, grade and photograph in one HTML file that prints on A4")
            .clicked()
            && let Some(path) = rfd::FileDialog::new()
                .set_file_name(format!("{}-report.html", exam.infant))
                .add_filter("HTML", &["html"])
                .save_file()
        {
            commands.push(ExamCommand::SaveReport(path));
        }
    });
    if let Some(path) = &session.exams.saved_report {
        ui.weak(format!("Report saved to {}", path.display()));
    }
    let previous = session.exams.previous_exam();
    let eye_ui =
        |ui: &mut egui::Ui, eye: Eye, thumbnails: &mut Thumbnails, commands: &mut Commands| {
            let entry = exam.eye(eye);
            ui.push_id(eye.name(), |ui| {
                let side = match eye {
                    Eye::Right => "right eye",
                    Eye::Left => "left eye",
                };
                let key = if eye == Eye::Right { "O" } else { "L" };
                let active = session.exams.active_eye == eye;
                let heading = format!("{} ({side})", eye.name());
                if ui
                    .selectable_label(active, egui::RichText::new(heading).strong())
                    .on_hover_text(format!(
                        "{key}: grade this eye with the keys — 0–3 stage, Q W E R zone I / \
                     posterior II / II / III, A S D plus none / pre-plus / plus"
                    ))
                    .clicked()
                {
                    commands.push(ExamCommand::ActiveEye(eye));
                }
                photos_ui(ui, session, entry, thumbnails, commands);
                ui.separator();
                let mine = entry.grades.get(annotator).cloned();
                eye_form_ui(ui, eye, mine.as_ref(), commands);
                flags_ui(ui, mine.as_ref());
                others_ui(ui, entry, annotator, previous.map(|p| (p, p.eye(eye))));
                consensus_ui(ui, eye, entry, commands);
            });
        };
    // Side by side where the form fits twice, else the right eye above the left.
    if ui.available_width() >= 2.0 * EYE_MIN_WIDTH {
        ui.columns(2, |columns| {
            for (ui, eye) in columns.iter_mut().zip([Eye::Right, Eye::Left]) {
                eye_ui(ui, eye, thumbnails, commands);
            }
        });
    } else {
        for eye in [Eye::Right, Eye::Left] {
            eye_ui(ui, eye, thumbnails, commands);
            ui.separator();
        }
    }
}

fn photos_ui(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    entry: &EyeEntry,
    thumbnails: &mut Thumbnails,
    commands: &mut Commands,
) {
    if entry.images.is_empty() {
        ui.weak("no photographs");
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for image in &entry.images {
            let Some(row) = session.rows.iter().find(|r| r.item.id == image.item_id) else {
                continue;
            };
            // Sized before it is drawn, so the row wraps before a cell, not after.
            let cell = egui::vec2(THUMB_CELL, THUMB_CELL + 34.0);
            ui.allocate_ui_with_layout(cell, egui::Layout::top_down(egui::Align::Min), |ui| {
                ui.set_width(THUMB_CELL);
                let selected = session.selected == Some(image.item_id);
                let response = thumbnail_button(ui, session, thumbnails, row, selected, THUMB_CELL);
                if response.clicked() {
                    commands.push(LabelingCommand::SelectItem(image.item_id));
                }
                ui.small(image.field.name());
                ui.small(image.quality.map_or("quality —", |q| q.name()));
            });
        }
    });
}

/// The current grader's form for one eye; each change records a new grade.
fn eye_form_ui(ui: &mut egui::Ui, eye: Eye, mine: Option<&EyeGrade>, commands: &mut Commands) {
    let before = mine.cloned().unwrap_or_default();
    let mut grade = before.clone();
    egui::Grid::new("eye form").num_columns(2).show(ui, |ui| {
        ui.label("Zone");
        ui.horizontal(|ui| {
            for zone in Zone::ALL {
                if ui
                    .selectable_label(grade.zone == Some(*zone), zone.name())
                    .clicked()
                {
                    grade.zone = Some(*zone);
                }
            }
            ui.checkbox(&mut grade.notch, "notch")
                .on_hover_text("Zone recorded secondary to a notch of 1–2 clock hours");
        });
        ui.end_row();
        ui.label("Stage");
        // Two rows: none to 3, then the detachments (a wrapped row would
        // overlap the grid's next row).
        ui.vertical(|ui| {
            for stages in Stage::ALL.chunk_by(|a, b| a.detached() == b.detached()) {
                ui.horizontal(|ui| {
                    for stage in stages {
                        if ui
                            .selectable_label(grade.stage == *stage, stage.name())
                            .clicked()
                        {
                            grade.stage = *stage;
                            if *stage == Stage::None {
                                grade.extent = Default::default();
                            }
                        }
                    }
                });
            }
        });
        ui.end_row();
        ui.label("Plus");
        ui.horizontal(|ui| {
            for plus in Plus::ALL {
                if ui
                    .selectable_label(grade.plus == *plus, plus.name())
                    .clicked()
                {
                    grade.plus = *plus;
                }
            }
        });
        ui.end_row();
        ui.label("A-ROP");
        ui.checkbox(&mut grade.arop, "aggressive ROP");
        ui.end_row();
        let label = ui.label("Ungradable");
        let shown = grade.ungradable.clone().unwrap_or_else(|| "no".into());
        egui::ComboBox::from_id_salt("ungradable")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut grade.ungradable, None, "no");
                for reason in UNGRADABLE_REASONS {
                    ui.selectable_value(&mut grade.ungradable, Some(reason.to_string()), reason);
                }
            })
            .response
            .labelled_by(label.id);
        ui.end_row();
    });
    ui.label(format!(
        "Extent: {} clock hours {}",
        grade.extent.count(),
        if grade.stage == Stage::None {
            "(give a stage first)".to_string()
        } else {
            grade.extent.text()
        }
    ));
    clock_dial_ui(ui, eye, &mut grade);
    if grade.ungradable.is_some() {
        // An ungradable eye carries no findings.
        grade = EyeGrade {
            ungradable: grade.ungradable,
            ..EyeGrade::default()
        };
    }
    if grade != before || (mine.is_none() && ui.small_button("Record as normal").clicked()) {
        commands.push(ExamCommand::Grade { eye, grade });
    }
}

/// Twelve clickable clock hours, 12 at the top, as the examiner sees the
/// eye: nasal to the right of a right eye and to the left of a left one.
fn clock_dial_ui(ui: &mut egui::Ui, eye: Eye, grade: &mut EyeGrade) {
    let radius = 64.0;
    let (response, painter) = ui.allocate_painter(
        egui::vec2(2.0 * radius + 40.0, 2.0 * radius + 16.0),
        egui::Sense::click(),
    );
    let centre = response.rect.center();
    let enabled = grade.stage != Stage::None;
    let stroke = ui.visuals().widgets.noninteractive.fg_stroke;
    painter.circle_stroke(centre, radius, stroke);
    let at = |hour: f32, r: f32| {
        let angle = hour / 12.0 * std::f32::consts::TAU;
        centre + egui::vec2(angle.sin(), -angle.cos()) * r
    };
    for hour in 1..=12u8 {
        let on = grade.extent.contains(hour);
        let fill = if on {
            ui.visuals().selection.bg_fill
        } else {
            ui.visuals().extreme_bg_color
        };
        painter.circle(at(f32::from(hour), radius * 0.72), 11.0, fill, stroke);
        painter.text(
            at(f32::from(hour), radius * 0.72),
            egui::Align2::CENTER_CENTER,
            hour.to_string(),
            egui::FontId::proportional(11.0),
            ui.visuals().text_color(),
        );
    }
    let (right, left) = match eye {
        Eye::Right => ("N", "T"),
        Eye::Left => ("T", "N"),
    };
    let side = egui::FontId::proportional(12.0);
    let colour = ui.visuals().weak_text_color();
    painter.text(
        at(3.0, radius + 12.0),
        egui::Align2::CENTER_CENTER,
        right,
        side.clone(),
        colour,
    );
    painter.text(
        at(9.0, radius + 12.0),
        egui::Align2::CENTER_CENTER,
        left,
        side,
        colour,
    );
    if enabled
        && response.clicked()
        && let Some(pointer) = response.interact_pointer_pos()
        && let Some(hour) = hour_at(pointer - centre, radius)
    {
        grade.extent.toggle(hour);
    }
}

/// The clock hour a click `offset` from the dial's centre picks (a ring
/// from 0.3 of the radius to just outside it), clockwise from 12 at the top.
fn hour_at(offset: egui::Vec2, radius: f32) -> Option<u8> {
    if offset.length() > radius + 8.0 || offset.length() < radius * 0.3 {
        return None;
    }
    let angle = offset.x.atan2(-offset.y).rem_euclid(std::f32::consts::TAU);
    Some(((angle / std::f32::consts::TAU * 12.0).round() as u8 + 11) % 12 + 1)
}

fn flags_ui(ui: &mut egui::Ui, mine: Option<&EyeGrade>) {
    let Some(grade) = mine else {
        ui.weak("not graded by you");
        return;
    };
    let type1 = grade.type1() == Some(true);
    let text = format!(
        "ETROP Type 1: {} · Type 2: {} · referral-warranted: {}",
        flag_word(grade.type1()),
        flag_word(grade.type2()),
        flag_word(grade.referral_warranted())
    );
    if type1 {
        ui.colored_label(ui.visuals().error_fg_color, format!("Treat: {text}"));
    } else {
        ui.label(text);
    }
}

/// Other graders' grades of this eye, and the previous exam's.
fn others_ui(
    ui: &mut egui::Ui,
    entry: &EyeEntry,
    annotator: &str,
    previous: Option<(&ExamEntry, &EyeEntry)>,
) {
    for (grader, grade) in &entry.grades {
        if grader != annotator && grader != ADJUDICATOR {
            ui.small(format!("{grader}: {}", grade.summary()));
        }
    }
    if let Some((exam, eye)) = previous {
        let grades: Vec<String> = eye
            .grades
            .iter()
            .map(|(grader, g)| format!("{grader}: {}", g.summary()))
            .collect();
        ui.small(format!(
            "Previous exam {}: {}",
            exam.date,
            if grades.is_empty() {
                "not graded".to_string()
            } else {
                grades.join("; ")
            }
        ));
    }
}

/// The eye's consensus, and while graders disagree (or after an
/// adjudication) a button per grader to adopt that grade as the eye's.
fn consensus_ui(ui: &mut egui::Ui, eye: Eye, entry: &EyeEntry, commands: &mut Commands) {
    let consensus = eye_consensus(&entry.grades);
    let line = match &consensus {
        EyeConsensus::Ungraded => return,
        EyeConsensus::Agreed(g) if entry.grades.len() > 1 => {
            format!("Graders agree: {}", g.summary())
        }
        EyeConsensus::Agreed(_) => return,
        EyeConsensus::Adjudicated(g) => format!("Adjudicated: {}", g.summary()),
        EyeConsensus::Disputed(fields) => format!("Graders disagree on {}", fields.join(", ")),
    };
    ui.label(egui::RichText::new(line).strong());
    if matches!(consensus, EyeConsensus::Agreed(_)) {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        for (grader, grade) in entry.grades.iter().filter(|(a, _)| *a != ADJUDICATOR) {
            if ui
                .small_button(format!("Adjudicate as {grader}"))
                .on_hover_text(format!(
                    "Adopt {grader}'s grade as this eye's: {}",
                    grade.summary()
                ))
                .clicked()
            {
                commands.push(ExamCommand::Adjudicate {
                    eye,
                    grade: grade.clone(),
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dial_reads_clock_hours_clockwise_from_the_top() {
        let r = 64.0;
        let at = |x: f32, y: f32| hour_at(egui::vec2(x, y), r);
        assert_eq!(at(0.0, -50.0), Some(12));
        assert_eq!(at(50.0, 0.0), Some(3));
        assert_eq!(at(0.0, 50.0), Some(6));
        assert_eq!(at(-50.0, 0.0), Some(9));
        // 30° clockwise from the top is 1 o'clock; 45° rounds to 2.
        assert_eq!(at(25.0, -43.3), Some(1));
        assert_eq!(at(35.4, -35.4), Some(2));
        assert_eq!(at(-25.0, -43.3), Some(11));
        assert_eq!(at(2.0, 2.0), None, "the centre picks nothing");
        assert_eq!(at(100.0, 0.0), None, "outside the dial");
    }
}
