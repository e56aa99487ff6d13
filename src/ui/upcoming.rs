//! Tabs whose stage has not been built yet: they say what will be there.

pub fn upcoming_ui(ui: &mut egui::Ui, stage: &str, what: &str) {
    ui.vertical_centered(|ui| {
        ui.add_space(40.0);
        ui.heading(stage);
        ui.label(what);
    });
}
