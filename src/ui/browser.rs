//! The pool browser: counts per pool and class, filters, sort, and a grid of thumbnails.

use std::collections::HashMap;

use crate::app::project::{BrowserFilter, ItemRow, SortOrder, UncertaintyMeasure};
use crate::app::vocabulary::Pool;
use crate::app::{Commands, LabelingCommand, ProjectSession, thumbnail};

/// Where an item's thumbnail is.
enum Thumbnail {
    /// Asked of the loader's thread.
    Pending,
    Ready(egui::TextureHandle),
    /// Could not be drawn (the reason is the tooltip); not tried again
    /// until the project is reopened.
    Broken(String),
}

/// Thumbnail textures by item id, drawn off the UI thread.
#[derive(Default)]
pub struct Thumbnails {
    textures: HashMap<i64, Thumbnail>,
    loader: thumbnail::Loader,
}

impl Thumbnails {
    /// Thumbnails asked for and not drawn yet (each arrival can move the
    /// layout: a test that clicks at a position waits for none).
    pub fn pending(&self) -> usize {
        self.textures
            .values()
            .filter(|t| matches!(t, Thumbnail::Pending))
            .count()
    }

    /// Turns what the loader drew into textures.
    fn receive(&mut self, ctx: &egui::Context) {
        for drawn in self.loader.take() {
            let state = match drawn.image {
                Ok(img) => {
                    let size = [img.width() as usize, img.height() as usize];
                    let image = egui::ColorImage::from_rgba_unmultiplied(size, img.as_raw());
                    Thumbnail::Ready(ctx.load_texture(
                        format!("thumb{}", drawn.item_id),
                        image,
                        egui::TextureOptions::LINEAR,
                    ))
                }
                Err(reason) => Thumbnail::Broken(reason),
            };
            self.textures.insert(drawn.item_id, state);
        }
    }
}

/// An item's thumbnail as a button (asked of the loader the first time it
/// is shown: only rows on screen are laid out, so only their thumbnails
/// are drawn), or a button naming why there is none.
pub fn thumbnail_button(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    thumbnails: &mut Thumbnails,
    row: &ItemRow,
    selected: bool,
    cell: f32,
) -> egui::Response {
    thumbnails.receive(ui.ctx());
    let id = row.item.id;
    // A case's thumbnail is its first modality's, cached under a name safe
    // on every file system.
    let shown = session.shown_file(row);
    let absent = shown.as_ref().err().map(|_| {
        let roles = session.project.schema().modalities.join("/");
        format!("no {roles}")
    });
    if let Some(file) = shown
        .ok()
        .filter(|_| !thumbnails.textures.contains_key(&id) && !row.missing)
    {
        let ctx = ui.ctx().clone();
        let files = session.project.files_root();
        // A painted lesion centres a volume's thumbnail; the map's file and
        // time are in the cache key, so a newer map draws it anew.
        let map = session.lesion_maps.get(&id);
        let hash = row.item.content_hash.replace(':', "_");
        let key = match map {
            Some((map_file, saved_at)) => {
                format!(
                    "{hash}-{}",
                    crate::app::vocabulary::short_hash(&format!("{map_file} {saved_at}"))
                )
            }
            None => hash,
        };
        thumbnails.loader.request(
            id,
            files,
            &key,
            &file,
            map.map(|(f, _)| files.join(f)).as_deref(),
            move || ctx.request_repaint(),
        );
        thumbnails.textures.insert(id, Thumbnail::Pending);
    }
    match thumbnails.textures.get(&id) {
        Some(Thumbnail::Ready(t)) => {
            let size = t.size_vec2() * ((cell - 8.0) / t.size_vec2().max_elem());
            let name = row.case.clone().unwrap_or_else(|| {
                std::path::Path::new(&row.item.path)
                    .file_name()
                    .map_or_else(
                        || row.item.path.clone(),
                        |n| n.to_string_lossy().into_owned(),
                    )
            });
            let response =
                ui.add(egui::Button::image(egui::Image::new((t.id(), size))).selected(selected));
            // An image button has no text: assistive tech reads the file's name.
            response.widget_info(|| {
                egui::WidgetInfo::selected(egui::Role::Button, true, selected, &name)
            });
            response
        }
        Some(Thumbnail::Broken(reason)) => ui
            .add_sized(
                [cell - 8.0, cell - 8.0],
                egui::Button::new("broken").selected(selected),
            )
            .on_hover_text(reason.as_str()),
        _ => ui.add_sized(
            [cell - 8.0, cell - 8.0],
            egui::Button::new(match (&absent, row.missing) {
                (Some(absent), _) => absent.as_str(),
                (None, true) => "missing",
                (None, false) => "…",
            })
            .selected(selected),
        ),
    }
}

pub fn browser_ui(
    ui: &mut egui::Ui,
    session: &ProjectSession,
    thumbnails: &mut Thumbnails,
    commands: &mut Commands,
) {
    let schema = session.project.schema();
    let counts = session.counts();
    ui.heading(session.project.title());
    ui.label(format!("schema {} · target {}", schema.name, schema.target));
    // One line per pool, its class counts wrapping within the panel: a long
    // class list must not widen the browser and squeeze the image.
    for (pool, classes) in &counts {
        ui.horizontal_wrapped(|ui| {
            ui.strong(pool.as_str());
            ui.label(classes.values().sum::<usize>().to_string());
            let detail: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            ui.weak(detail.join(", "));
        });
    }
    ui.separator();

    let mut filter = session.filter.clone();
    egui::ComboBox::from_label("Pool")
        .selected_text(filter.pool.map_or("all", |p| p.as_str()))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut filter.pool, None, "all");
            for pool in Pool::ALL {
                ui.selectable_value(&mut filter.pool, Some(pool), pool.as_str());
            }
        });
    egui::ComboBox::from_label("Class")
        .selected_text(match &filter.class {
            None => "all".to_string(),
            Some(c) if c.is_empty() => "(none)".to_string(),
            Some(c) => c.clone(),
        })
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut filter.class, None, "all");
            ui.selectable_value(&mut filter.class, Some(String::new()), "(none)");
            for value in &schema.target_field().values {
                ui.selectable_value(&mut filter.class, Some(value.clone()), value);
            }
        });
    egui::ComboBox::from_label("Annotator")
        .selected_text(filter.annotator.clone().unwrap_or_else(|| "anyone".into()))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut filter.annotator, None, "anyone");
            for name in session.annotators() {
                ui.selectable_value(&mut filter.annotator, Some(name.clone()), name);
            }
        });
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut filter.unsure, "Unsure");
        ui.checkbox(&mut filter.disagreement, "Disagreement");
        ui.checkbox(&mut filter.missing, "Missing file");
    });
    if filter != session.filter {
        commands.push(LabelingCommand::SetFilter(filter));
    }
    if !schema.tabular.is_empty() {
        let mut column = session.shown_column.clone();
        egui::ComboBox::from_label("Record column")
            .selected_text(column.clone().unwrap_or_else(|| "none".into()))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut column, None, "none");
                for c in &schema.tabular {
                    ui.selectable_value(&mut column, Some(c.name.clone()), c.title());
                }
            })
            .response
            .on_hover_text("Shown under each case's thumbnail");
        if column != session.shown_column {
            commands.push(LabelingCommand::ShowColumn(column));
        }
    }
    let mut sort = session.sort;
    ui.horizontal(|ui| {
        ui.label("Sort");
        ui.selectable_value(&mut sort, SortOrder::Name, "name");
        ui.selectable_value(&mut sort, SortOrder::Date, "date");
        ui.selectable_value(&mut sort, SortOrder::Uncertainty, "uncertainty")
            .on_hover_text("Most uncertain model prediction first");
    });
    if sort != session.sort {
        commands.push(LabelingCommand::SetSort(sort));
    }
    if !session.predictions.is_empty() {
        let mut measure = session.uncertainty;
        egui::ComboBox::from_label("Uncertainty")
            .selected_text(measure.name())
            .show_ui(ui, |ui| {
                for m in UncertaintyMeasure::ALL {
                    ui.selectable_value(&mut measure, m, m.name());
                }
            });
        if measure != session.uncertainty {
            commands.push(LabelingCommand::SetUncertainty(measure));
        }
    }
    if ui
        .button("Label next most uncertain")
        .on_hover_text("Active learning: the unlabeled item the model is least sure of (U)")
        .clicked()
    {
        commands.push(LabelingCommand::NextMostUncertain);
    }
    if session.filter != BrowserFilter::default() && ui.small_button("Clear filters").clicked() {
        commands.push(LabelingCommand::SetFilter(BrowserFilter::default()));
    }
    ui.separator();

    let visible = session.visible();
    ui.label(format!("{} of {} items", visible.len(), session.rows.len()));
    let cell = thumbnail::THUMBNAIL_PX as f32 + 8.0;
    let columns = ((ui.available_width() / cell).floor() as usize).max(1);
    let rows = visible.len().div_ceil(columns);
    thumbnails.receive(ui.ctx());
    let target = schema.target.clone();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, cell + 32.0, rows, |ui, range| {
            for line in range {
                ui.horizontal(|ui| {
                    for row in visible.iter().skip(line * columns).take(columns) {
                        let id = row.item.id;
                        let selected = session.selected == Some(id);
                        ui.vertical(|ui| {
                            ui.set_width(cell);
                            let response =
                                thumbnail_button(ui, session, thumbnails, row, selected, cell);
                            // Name, then label (or the pool when unlabeled):
                            // what tells look-alike thumbnails apart.
                            let hover = row
                                .case
                                .as_ref()
                                .map_or(row.item.path.as_str(), |c| c.as_str());
                            // Painted, not a widget: the thumbnail button
                            // already carries the file's name for assistive tech.
                            name_caption(ui, short_name(hover), cell);
                            // (A case labeled by its painted map has no class.)
                            let caption = row.consensus(&target).unwrap_or(match row.item.pool {
                                Pool::Test => "test",
                                Pool::Labeled => "labeled",
                                Pool::Unlabeled => "unlabeled",
                            });
                            ui.add(
                                egui::Label::new(egui::RichText::new(caption).small()).truncate(),
                            );
                            if let Some(column) = &session.shown_column {
                                let value = session
                                    .cases
                                    .records
                                    .get(&id)
                                    .and_then(|r| r.get(column))
                                    .map_or("unknown", String::as_str);
                                ui.small(format!("{column}: {value}"));
                            }
                            if response.on_hover_text(hover).clicked() {
                                commands.push(LabelingCommand::SelectItem(id));
                            }
                        });
                    }
                });
            }
        });
}

/// One line of small text, cut with "…" to the thumbnail's width.
fn name_caption(ui: &mut egui::Ui, name: &str, width: f32) {
    let font = egui::TextStyle::Small.resolve(ui.style());
    let mut job =
        egui::text::LayoutJob::simple_singleline(name.to_string(), font, ui.visuals().text_color());
    job.wrap = egui::text::TextWrapping::truncate_at_width(width - 8.0);
    let galley = ui.ctx().fonts_mut(|f| f.layout_job(job));
    let (rect, _) = ui.allocate_exact_size(galley.size(), egui::Sense::hover());
    ui.painter()
        .galley(rect.min, galley, ui.visuals().text_color());
}

/// A file's name without its folders or image extension (`case_012` of
/// `images/case_012.nii.gz`); a case name stays as it is.
fn short_name(path: &str) -> &str {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    [
        ".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm",
    ]
    .iter()
    .find_map(|ext| {
        name.len()
            .checked_sub(ext.len())
            .filter(|&at| name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(ext))
            .map(|at| &name[..at])
    })
    .filter(|stem| !stem.is_empty())
    .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn a_thumbnail_is_captioned_by_its_file_name() {
        assert_eq!(short_name("images/case_012.nii.gz"), "case_012");
        assert_eq!(short_name("a\\b\\Photo.JPG"), "Photo");
        assert_eq!(short_name("series/CT 1"), "CT 1");
        assert_eq!(short_name(".png"), ".png");
    }
}
