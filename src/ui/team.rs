//! The review queue's window: disagreements and flagged items, oldest
//! first; choosing one opens the item, and each label waiting for a verdict
//! can be accepted (it settles the disagreement) or rejected with a reason
//! (it goes back to its annotator).

use crate::app::team::TeamCommand;
use crate::app::{AppState, Commands, LabelingCommand, Secret, WindowCommand};
use crate::store::queue::Verdict;

pub fn review_ui(
    ctx: &egui::Context,
    state: &AppState,
    reason_draft: &mut String,
    commands: &mut Commands,
) {
    let Some(session) = &state.session else {
        return;
    };
    if !session.team.review_shown {
        return;
    }
    let mut open = true;
    egui::Window::new("Review queue")
        .open(&mut open)
        .default_size([420.0, 380.0])
        // Over the viewer, not the browser's filters it is used with.
        .default_pos(ctx.content_rect().left_top() + egui::vec2(380.0, 80.0))
        .show(ctx, |ui| {
            let Some(queue) = &session.team.review else {
                ui.label("reading…");
                return;
            };
            if queue.is_empty() && session.team.eye_review.is_empty() {
                ui.label("Nothing to review: no disagreement or flagged item waits for a verdict.");
                return;
            }
            if !session.team.eye_review.is_empty() {
                eye_review_ui(ui, session, reason_draft, commands);
                if queue.is_empty() {
                    return;
                }
                ui.separator();
            }
            ui.label(format!("{} items wait, oldest first", queue.len()));
            egui::ScrollArea::vertical().max_height(180.0).show(ui, |ui| {
                for entry in queue {
                    let mut why = Vec::new();
                    if !entry.disagreements.is_empty() {
                        why.push(format!("disagree on {}", entry.disagreements.join(", ")));
                    }
                    for (who, _) in &entry.flagged {
                        why.push(format!("flagged by {who}"));
                    }
                    let name = session
                        .row(entry.item_id)
                        .map(|r| r.case.clone().unwrap_or_else(|| r.item.path.clone()))
                        .unwrap_or_default();
                    let chosen = session.selected == Some(entry.item_id);
                    let text = format!("{} {} — {}", entry.item_id, short(&name), why.join("; "));
                    if ui
                        .selectable_label(chosen, text)
                        .on_hover_text(format!("since {}", entry.since))
                        .clicked()
                    {
                        commands.push(LabelingCommand::SelectItem(entry.item_id));
                    }
                }
            });
            ui.separator();
            let Some(entry) = session
                .selected
                .and_then(|id| queue.iter().find(|e| e.item_id == id))
            else {
                ui.weak("Choose an item to give verdicts on its labels.");
                return;
            };
            for (who, note) in &entry.flagged {
                if !note.is_empty() {
                    ui.label(format!("{who}'s note: {note}"));
                }
            }
            let label = ui.label("Reason (needed to reject)");
            ui.add(egui::TextEdit::singleline(reason_draft).desired_width(f32::INFINITY))
                .labelled_by(label.id);
            let row = session.row(entry.item_id);
            for annotator in &entry.waiting {
                let values = row
                    .and_then(|r| r.labels.get(annotator))
                    .map(|fields| {
                        fields
                            .iter()
                            .map(|(f, v)| format!("{f}: {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                ui.horizontal(|ui| {
                    ui.strong(annotator);
                    ui.label(values);
                    let verdict = |verdict| TeamCommand::Review {
                        item_id: entry.item_id,
                        annotator: annotator.clone(),
                        verdict,
                        reason: reason_draft.clone(),
                    };
                    if ui
                        .button("Accept")
                        .on_hover_text("Their values become the adjudicated label where the annotators disagree")
                        .clicked()
                    {
                        commands.push(verdict(Verdict::Accept));
                    }
                    if ui
                        .add_enabled(!reason_draft.trim().is_empty(), egui::Button::new("Reject"))
                        .on_hover_text("Returns the item to them with the reason")
                        .on_disabled_hover_text("Write a reason first")
                        .clicked()
                    {
                        commands.push(verdict(Verdict::Reject));
                    }
                });
            }
        });
    if !open {
        commands.push(TeamCommand::ShowReview(false));
    }
}

/// The review window's eyes: the list (choosing one opens it in the exam
/// view) and, for the eye open there, a verdict per waiting grader.
fn eye_review_ui(
    ui: &mut egui::Ui,
    session: &crate::app::ProjectSession,
    reason_draft: &mut String,
    commands: &mut Commands,
) {
    use crate::app::ExamCommand;
    let queue = &session.team.eye_review;
    ui.label(format!("{} eyes wait, oldest first", queue.len()));
    let open = session
        .exams
        .open_exam()
        .filter(|_| session.exams.shown)
        .map(|exam| exam.eye_ref(session.exams.active_eye));
    egui::ScrollArea::vertical()
        .id_salt("eye review")
        .max_height(140.0)
        .show(ui, |ui| {
            for entry in queue {
                let text = format!(
                    "{} — graders disagree on {}",
                    entry.eye,
                    entry.disputed.join(", ")
                );
                if ui
                    .selectable_label(open.as_ref() == Some(&entry.eye), text)
                    .on_hover_text(format!("since {}", entry.since))
                    .clicked()
                {
                    commands.push(ExamCommand::OpenEye(entry.eye.clone()));
                }
            }
        });
    let Some(entry) = open.and_then(|eye| queue.iter().find(|e| e.eye == eye)) else {
        ui.weak("Choose an eye to give verdicts on its grades.");
        return;
    };
    let label = ui.label("Reason (needed to reject)");
    ui.add(egui::TextEdit::singleline(reason_draft).desired_width(f32::INFINITY))
        .labelled_by(label.id);
    let grades = session
        .exams
        .open_exam()
        .and_then(|exam| exam.eyes.iter().find(|e| e.eye == entry.eye.eye))
        .map(|eye| &eye.grades);
    for annotator in &entry.waiting {
        let summary = grades
            .and_then(|g| g.get(annotator))
            .map(|grade| {
                entry
                    .disputed
                    .iter()
                    .map(|field| format!("{field}: {}", grade.get(field).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        ui.horizontal(|ui| {
            ui.strong(annotator);
            ui.label(summary);
            let verdict = |verdict| TeamCommand::ReviewEye {
                eye: entry.eye.clone(),
                annotator: annotator.clone(),
                verdict,
                reason: reason_draft.clone(),
            };
            if ui
                .button("Accept")
                .on_hover_text("Their grade becomes the eye's adjudicated grade")
                .clicked()
            {
                commands.push(verdict(Verdict::Accept));
            }
            if ui
                .add_enabled(!reason_draft.trim().is_empty(), egui::Button::new("Reject"))
                .on_hover_text("Returns the eye to them with the reason")
                .on_disabled_hover_text("Write a reason first")
                .clicked()
            {
                commands.push(verdict(Verdict::Reject));
            }
        });
    }
}

/// A path's last part, for a list line.
fn short(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The password prompt of a team project whose server wants one: the login
/// it is for, whether the last password was refused, a masked field. The
/// typed text leaves `password_draft` when it is sent.
pub fn password_ui(
    ctx: &egui::Context,
    state: &AppState,
    password_draft: &mut String,
    commands: &mut Commands,
) {
    let Some(prompt) = &state.password_prompt else {
        password_draft.clear();
        return;
    };
    let mut open = true;
    egui::Window::new("Sign in to a team project")
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_TOP, egui::vec2(0.0, 120.0))
        .show(ctx, |ui| {
            ui.label(format!(
                "The server asks for the password of {}",
                prompt.server
            ));
            if prompt.wrong {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    "The server refused that password (or the user name).",
                );
            }
            let mut send = false;
            ui.horizontal(|ui| {
                let label = ui.label("Password");
                let field = ui.add(
                    egui::TextEdit::singleline(password_draft)
                        .password(true)
                        .desired_width(220.0),
                );
                let field = field.labelled_by(label.id);
                if !field.has_focus() && password_draft.is_empty() {
                    field.request_focus();
                }
                send |= field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            });
            ui.weak("Kept in memory until Loupe quits; never saved.");
            ui.horizontal(|ui| {
                send |= ui
                    .add_enabled(!password_draft.is_empty(), egui::Button::new("Connect"))
                    .clicked();
                if ui.button("Cancel").clicked() {
                    commands.push(WindowCommand::CancelPasswordPrompt);
                }
            });
            if send && !password_draft.is_empty() {
                let password = std::mem::take(password_draft);
                commands.push(WindowCommand::ConnectWithPassword(Secret(password)));
            }
        });
    if !open {
        commands.push(WindowCommand::CancelPasswordPrompt);
    }
}
