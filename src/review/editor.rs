//! The boxes of one image under edit: add, move, resize, nudge, duplicate, delete, recategorise,
//! accept, with undo and redo as a bounded history of snapshots (every edit one step; a drag,
//! however long, one step). Pure data: the window drives it and saves what [`Editor::boxes`]
//! holds after each change.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{GarmentBox, Origin};
use crate::detect::boxes::{BoxRect, Handle};

/// Undo steps kept per image.
const HISTORY: usize = 200;
/// The smallest side a box keeps, in image pixels.
pub const MIN_SIDE: f32 = 2.0;
/// How far a duplicate lands from its original, in image pixels.
const DUPLICATE_OFFSET: f32 = 10.0;

/// A box in the editor: a key that stays the same for the studio's lifetime (the catalog id
/// comes later, from the saver), the box, and whether a person changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct EditBox {
    pub key: u64,
    pub garment: GarmentBox,
    /// Changed by hand since it was loaded (it becomes `human` when the image is accepted).
    pub edited: bool,
}

/// A key no other box of this process has.
pub fn new_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A drag in progress: the box, the handle and the box as it was when the drag began.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Drag {
    key: u64,
    handle: Handle,
    start: BoxRect,
}

#[derive(Debug, Clone)]
pub struct Editor {
    width: f32,
    height: f32,
    boxes: Vec<EditBox>,
    undo: Vec<Vec<EditBox>>,
    redo: Vec<Vec<EditBox>>,
    drag: Option<Drag>,
    /// Bumped by every change, so a saver can tell which state it wrote.
    revision: u64,
}

impl Editor {
    /// An editor over `boxes` (as loaded from the catalog) of an image `width x height`.
    pub fn new(width: u32, height: u32, boxes: Vec<GarmentBox>) -> Self {
        Editor {
            width: width as f32,
            height: height as f32,
            boxes: boxes
                .into_iter()
                .map(|garment| EditBox {
                    key: new_key(),
                    garment,
                    edited: false,
                })
                .collect(),
            undo: Vec::new(),
            redo: Vec::new(),
            drag: None,
            revision: 0,
        }
    }

    pub fn image_size(&self) -> (f32, f32) {
        (self.width, self.height)
    }

    pub fn boxes(&self) -> &[EditBox] {
        &self.boxes
    }

    pub fn get(&self, key: u64) -> Option<&EditBox> {
        self.boxes.iter().find(|b| b.key == key)
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Records the present state as an undo step, before a change.
    fn checkpoint(&mut self) {
        self.undo.push(self.boxes.clone());
        if self.undo.len() > HISTORY {
            self.undo.remove(0);
        }
        self.redo.clear();
    }

    fn changed(&mut self) {
        self.revision += 1;
    }

    fn find_mut(&mut self, key: u64) -> Option<&mut EditBox> {
        self.boxes.iter_mut().find(|b| b.key == key)
    }

    /// Adds a box a person drew (clamped to the image); `None` when it is too small to keep.
    pub fn add(&mut self, rect: BoxRect, category: &str) -> Option<u64> {
        let rect = rect.clamped(self.width, self.height);
        if rect.width() < MIN_SIDE || rect.height() < MIN_SIDE {
            return None;
        }
        self.checkpoint();
        let key = new_key();
        self.boxes.push(EditBox {
            key,
            garment: GarmentBox {
                id: None,
                rect,
                category: category.to_string(),
                score: None,
                origin: Origin::Human,
                reviewed: false,
            },
            edited: true,
        });
        self.changed();
        Some(key)
    }

    /// Moves a box by `(dx, dy)` image pixels (arrow keys), kept inside the image.
    pub fn nudge(&mut self, key: u64, delta: (f32, f32)) -> bool {
        let (w, h) = (self.width, self.height);
        let Some(current) = self.get(key).map(|b| b.garment.rect) else {
            return false;
        };
        let moved = current.moved_within(delta, w, h);
        self.set_rect(key, moved)
    }

    /// Replaces a box's rectangle (one undo step); false when nothing changed.
    pub fn set_rect(&mut self, key: u64, rect: BoxRect) -> bool {
        let rect = rect.clamped(self.width, self.height);
        if self.get(key).is_none_or(|b| b.garment.rect == rect) || !rect.is_valid() {
            return false;
        }
        self.checkpoint();
        if let Some(b) = self.find_mut(key) {
            b.garment.rect = rect;
            b.edited = true;
        }
        self.changed();
        true
    }

    /// Starts dragging `handle` of a box: one undo step covers the whole drag.
    pub fn begin_drag(&mut self, key: u64, handle: Handle) -> bool {
        let Some(start) = self.get(key).map(|b| b.garment.rect) else {
            return false;
        };
        self.drag = Some(Drag { key, handle, start });
        true
    }

    /// Where the drag has got to: `(dx, dy)` image pixels from where it began.
    pub fn drag_to(&mut self, delta: (f32, f32)) {
        let Some(drag) = self.drag else {
            return;
        };
        let rect = drag
            .start
            .dragged(drag.handle, delta, (self.width, self.height), MIN_SIDE);
        if let Some(b) = self.find_mut(drag.key) {
            b.garment.rect = rect;
        }
    }

    /// Ends the drag; returns whether the box changed (then it is one undo step).
    pub fn end_drag(&mut self) -> bool {
        let Some(drag) = self.drag.take() else {
            return false;
        };
        let Some(now) = self.get(drag.key).map(|b| b.garment.rect) else {
            return false;
        };
        if now == drag.start {
            return false;
        }
        let mut before = self.boxes.clone();
        if let Some(b) = before.iter_mut().find(|b| b.key == drag.key) {
            b.garment.rect = drag.start;
        }
        self.undo.push(before);
        if self.undo.len() > HISTORY {
            self.undo.remove(0);
        }
        self.redo.clear();
        if let Some(b) = self.find_mut(drag.key) {
            b.edited = true;
        }
        self.changed();
        true
    }

    pub fn is_dragging(&self) -> bool {
        self.drag.is_some()
    }

    pub fn delete(&mut self, key: u64) -> bool {
        if self.get(key).is_none() {
            return false;
        }
        self.checkpoint();
        self.boxes.retain(|b| b.key != key);
        self.changed();
        true
    }

    /// A copy of a box, a little down and right of it; returns the copy's key.
    pub fn duplicate(&mut self, key: u64) -> Option<u64> {
        let original = self.get(key)?.garment.clone();
        self.checkpoint();
        let copy_key = new_key();
        let rect = original.rect.moved_within(
            (DUPLICATE_OFFSET, DUPLICATE_OFFSET),
            self.width,
            self.height,
        );
        self.boxes.push(EditBox {
            key: copy_key,
            garment: GarmentBox {
                id: None,
                rect,
                origin: Origin::Human,
                reviewed: false,
                ..original
            },
            edited: true,
        });
        self.changed();
        Some(copy_key)
    }

    pub fn set_category(&mut self, key: u64, category: &str) -> bool {
        if self.get(key).is_none_or(|b| b.garment.category == category) {
            return false;
        }
        self.checkpoint();
        if let Some(b) = self.find_mut(key) {
            b.garment.category = category.to_string();
            b.edited = true;
        }
        self.changed();
        true
    }

    /// Marks every box reviewed; the edited ones become `human`. Returns whether anything
    /// changed (an image with no boxes is accepted all the same, by its status).
    pub fn accept(&mut self) -> bool {
        let pending = self
            .boxes
            .iter()
            .any(|b| !b.garment.reviewed || (b.edited && b.garment.origin != Origin::Human));
        if !pending {
            return false;
        }
        self.checkpoint();
        for b in &mut self.boxes {
            b.garment.reviewed = true;
            if b.edited {
                b.garment.origin = Origin::Human;
            }
        }
        self.changed();
        true
    }

    pub fn undo(&mut self) -> bool {
        self.drag = None;
        let Some(before) = self.undo.pop() else {
            return false;
        };
        self.redo.push(std::mem::replace(&mut self.boxes, before));
        self.changed();
        true
    }

    pub fn redo(&mut self) -> bool {
        self.drag = None;
        let Some(after) = self.redo.pop() else {
            return false;
        };
        self.undo.push(std::mem::replace(&mut self.boxes, after));
        self.changed();
        true
    }

    /// Records the catalog ids the saver gave new boxes (keys it does not know are ignored).
    pub fn set_ids(&mut self, ids: &[(u64, i64)]) {
        let fill = |boxes: &mut Vec<EditBox>| {
            for b in boxes.iter_mut().filter(|b| b.garment.id.is_none()) {
                if let Some((_, id)) = ids.iter().find(|(key, _)| *key == b.key) {
                    b.garment.id = Some(*id);
                }
            }
        };
        fill(&mut self.boxes);
        self.undo.iter_mut().for_each(fill);
        self.redo.iter_mut().for_each(fill);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_box(x0: f32) -> GarmentBox {
        GarmentBox {
            id: Some(7),
            rect: BoxRect::new(x0, 10.0, x0 + 40.0, 90.0),
            category: "full".into(),
            score: Some(0.93),
            origin: Origin::Model,
            reviewed: false,
        }
    }

    fn rects(editor: &Editor) -> Vec<BoxRect> {
        editor.boxes().iter().map(|b| b.garment.rect).collect()
    }

    #[test]
    fn every_edit_is_one_undo_step_and_redo_replays_it() {
        let mut editor = Editor::new(200, 100, vec![model_box(10.0)]);
        let first = editor.boxes()[0].key;
        let drawn = editor
            .add(BoxRect::new(100.0, 20.0, 150.0, 80.0), "upper")
            .unwrap();
        assert!(editor.nudge(drawn, (-10.0, 0.0)));
        assert!(editor.set_category(first, "lower"));
        let copy = editor.duplicate(first).unwrap();
        assert!(editor.delete(drawn));
        assert_eq!(editor.boxes().len(), 2);
        assert_eq!(editor.get(copy).unwrap().garment.rect.x0, 20.0);
        assert_eq!(
            editor.get(copy).unwrap().garment.id,
            None,
            "a copy is a new box"
        );
        let revision = editor.revision();

        let mut states = vec![rects(&editor)];
        while editor.undo() {
            states.push(rects(&editor));
        }
        assert_eq!(states.len(), 6, "five edits, five steps back");
        assert_eq!(rects(&editor), vec![model_box(10.0).rect]);
        assert_eq!(editor.get(first).unwrap().garment.category, "full");
        assert!(editor.revision() > revision);
        while editor.redo() {}
        assert_eq!(rects(&editor), states[0]);
        assert_eq!(editor.get(first).unwrap().garment.category, "lower");
    }

    #[test]
    fn a_drag_is_one_step_and_a_new_edit_clears_redo() {
        let mut editor = Editor::new(200, 100, vec![model_box(10.0)]);
        let key = editor.boxes()[0].key;
        assert!(editor.begin_drag(key, Handle::BottomRight));
        for step in 1..=20 {
            editor.drag_to((step as f32, step as f32 * 0.25));
        }
        assert!(editor.end_drag());
        assert_eq!(
            editor.get(key).unwrap().garment.rect,
            BoxRect::new(10.0, 10.0, 70.0, 95.0)
        );
        assert!(editor.get(key).unwrap().edited);
        assert!(editor.undo());
        assert_eq!(rects(&editor), vec![model_box(10.0).rect]);
        assert!(!editor.can_undo(), "the whole drag was one step");
        assert!(editor.can_redo());
        editor.add(BoxRect::new(0.0, 0.0, 5.0, 5.0), "upper");
        assert!(!editor.can_redo());

        // A drag that ends where it began is no step at all.
        editor.begin_drag(key, Handle::Inside);
        editor.drag_to((3.0, 3.0));
        editor.drag_to((0.0, 0.0));
        assert!(!editor.end_drag());
    }

    #[test]
    fn tiny_boxes_are_refused_and_boxes_clamp_to_the_image() {
        let mut editor = Editor::new(200, 100, Vec::new());
        assert_eq!(editor.add(BoxRect::new(5.0, 5.0, 6.0, 50.0), "upper"), None);
        let key = editor
            .add(BoxRect::new(-20.0, 50.0, 30.0, 300.0), "upper")
            .unwrap();
        assert_eq!(
            editor.get(key).unwrap().garment.rect,
            BoxRect::new(0.0, 50.0, 30.0, 100.0)
        );
        assert!(!editor.nudge(key, (-5.0, 0.0)), "already at the left edge");
    }

    #[test]
    fn accepting_reviews_every_box_and_makes_edited_ones_human() {
        let mut editor = Editor::new(200, 100, vec![model_box(10.0), model_box(100.0)]);
        let (a, b) = (editor.boxes()[0].key, editor.boxes()[1].key);
        editor.nudge(a, (1.0, 0.0));
        assert!(editor.accept());
        let a = &editor.get(a).unwrap().garment;
        let b = &editor.get(b).unwrap().garment;
        assert!(a.reviewed && b.reviewed);
        assert_eq!((a.origin, b.origin), (Origin::Human, Origin::Model));
        assert_eq!(b.score, Some(0.93), "an unedited model box keeps its score");
        assert!(!editor.accept(), "accepting twice changes nothing");
    }

    #[test]
    fn ids_from_the_saver_reach_the_history_too() {
        let mut editor = Editor::new(200, 100, Vec::new());
        let key = editor
            .add(BoxRect::new(0.0, 0.0, 50.0, 50.0), "full")
            .unwrap();
        editor.nudge(key, (5.0, 5.0));
        editor.set_ids(&[(key, 42)]);
        assert_eq!(editor.get(key).unwrap().garment.id, Some(42));
        editor.undo();
        assert_eq!(editor.get(key).unwrap().garment.id, Some(42));
    }
}
