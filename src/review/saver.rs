//! The worker that writes review edits to the catalog, so the window never waits on the disk.
//! Each request carries an image's whole box set (and its status when that changed); the worker
//! saves it in one transaction and answers with the ids of boxes saved for the first time.
//! Requests are taken in order, and when several for one image are queued only the newest is
//! written (each holds the whole state, so nothing is lost).

use std::collections::HashMap;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::ImageStatus;
use super::editor::EditBox;
use crate::project::Project;

/// One image's boxes (and status) to save.
#[derive(Debug, Clone)]
pub struct SaveRequest {
    pub image_id: i64,
    /// The editor's revision this state is, echoed in the reply.
    pub revision: u64,
    /// The image's whole box set; `None` leaves its boxes as they are (a status change alone,
    /// for an image that could not be opened).
    pub boxes: Option<Vec<EditBox>>,
    pub status: Option<ImageStatus>,
}

/// What the worker says back.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveReply {
    /// Saved: `ids` pairs each box key saved for the first time with its catalog id.
    Saved {
        image_id: i64,
        revision: u64,
        ids: Vec<(u64, i64)>,
    },
    Failed {
        image_id: i64,
        message: String,
    },
}

pub struct Saver {
    tx: Option<Sender<SaveRequest>>,
    rx: Receiver<SaveReply>,
    thread: Option<JoinHandle<()>>,
}

impl Saver {
    /// Starts the worker on `project`'s catalog; `notify` runs after every reply.
    pub fn start(project: Project, notify: impl Fn() + Send + 'static) -> Saver {
        let (tx, requests) = crossbeam_channel::unbounded::<SaveRequest>();
        let (replies, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("review saver".into())
            .spawn(move || run(&project, &requests, &replies, &notify))
            .ok();
        Saver {
            tx: Some(tx),
            rx,
            thread,
        }
    }

    pub fn save(&self, request: SaveRequest) {
        if let Some(tx) = &self.tx {
            // The worker only stops when the saver is dropped.
            let _ = tx.send(request);
        }
    }

    pub fn try_recv(&self) -> Option<SaveReply> {
        self.rx.try_recv().ok()
    }

    /// Waits for every queued request to be written (the window calls this on exit).
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        // Dropping the sender ends the worker once it has written what was queued.
        self.stop();
    }
}

fn run(
    project: &Project,
    requests: &Receiver<SaveRequest>,
    replies: &Sender<SaveReply>,
    notify: &dyn Fn(),
) {
    let catalog = project.catalog();
    // Catalog ids of boxes this worker inserted, by editor key, so a later state of the same
    // box updates it rather than inserting it again.
    let mut ids: HashMap<u64, i64> = HashMap::new();
    while let Ok(first) = requests.recv() {
        // Only the newest queued state of each image is worth writing.
        let mut newest: Vec<SaveRequest> = vec![first];
        newest.extend(requests.try_iter());
        let mut latest: Vec<SaveRequest> = Vec::new();
        for request in newest {
            match latest.iter_mut().find(|r| r.image_id == request.image_id) {
                Some(slot) => {
                    let status = request.status.or(slot.status);
                    let boxes = request.boxes.or(slot.boxes.take());
                    *slot = SaveRequest {
                        status,
                        boxes,
                        ..request
                    };
                }
                None => latest.push(request),
            }
        }
        for request in latest {
            let reply = match &catalog {
                Ok(catalog) => save(catalog, &request, &mut ids),
                Err(e) => SaveReply::Failed {
                    image_id: request.image_id,
                    message: e.to_string(),
                },
            };
            let _ = replies.send(reply);
            notify();
        }
    }
}

fn save(
    catalog: &crate::project::Catalog,
    request: &SaveRequest,
    ids: &mut HashMap<u64, i64>,
) -> SaveReply {
    let Some(edit_boxes) = &request.boxes else {
        let saved = match request.status {
            Some(status) => catalog.set_image_status(request.image_id, status),
            None => Ok(()),
        };
        return match saved {
            Ok(()) => SaveReply::Saved {
                image_id: request.image_id,
                revision: request.revision,
                ids: Vec::new(),
            },
            Err(e) => SaveReply::Failed {
                image_id: request.image_id,
                message: e.to_string(),
            },
        };
    };
    let boxes: Vec<_> = edit_boxes
        .iter()
        .map(|b| {
            let mut garment = b.garment.clone();
            garment.id = garment.id.or_else(|| ids.get(&b.key).copied());
            garment
        })
        .collect();
    match catalog.save_boxes(request.image_id, &boxes, request.status) {
        Ok(saved) => {
            let mut new_ids = Vec::new();
            for (b, id) in edit_boxes.iter().zip(saved) {
                if b.garment.id.is_none() {
                    ids.insert(b.key, id);
                    new_ids.push((b.key, id));
                }
            }
            SaveReply::Saved {
                image_id: request.image_id,
                revision: request.revision,
                ids: new_ids,
            }
        }
        Err(e) => SaveReply::Failed {
            image_id: request.image_id,
            message: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::boxes::BoxRect;
    use crate::project::catalog::{NewImage, SourceKind};
    use crate::review::editor::Editor;

    #[test]
    fn edits_reach_the_catalog_and_new_boxes_get_their_ids_once() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::create(&dir.path().join("p")).unwrap();
        let image = project
            .catalog()
            .unwrap()
            .insert_images(&[NewImage {
                sha256: "ab".repeat(32),
                path: "images/ab/x.png".into(),
                width: 100,
                height: 80,
                dhash: 1,
                source_url: None,
                source_kind: SourceKind::File,
                original_name: None,
            }])
            .unwrap()[0];
        let saver = Saver::start(project.clone(), || {});
        let mut editor = Editor::new(100, 80, Vec::new());
        let key = editor
            .add(BoxRect::new(10.0, 10.0, 50.0, 70.0), "full")
            .unwrap();
        let request = |editor: &Editor, status| SaveRequest {
            image_id: image,
            revision: editor.revision(),
            boxes: Some(editor.boxes().to_vec()),
            status,
        };
        saver.save(request(&editor, None));
        // The same box moved before the first reply came: still one row.
        editor.nudge(key, (5.0, 0.0));
        saver.save(request(&editor, None));
        editor.accept();
        saver.save(request(&editor, Some(ImageStatus::Accepted)));
        saver.finish();

        let catalog = project.catalog().unwrap();
        let stored = catalog.boxes_of(image).unwrap();
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(stored[0].rect, BoxRect::new(15.0, 10.0, 55.0, 70.0));
        assert!(stored[0].reviewed);
        assert_eq!(
            catalog.review_queue().unwrap()[0].status,
            ImageStatus::Accepted
        );

        // A status alone (an image that would not open) keeps the boxes.
        let saver = Saver::start(project.clone(), || {});
        saver.save(SaveRequest {
            image_id: image,
            revision: 9,
            boxes: None,
            status: Some(ImageStatus::Rejected),
        });
        saver.finish();
        assert_eq!(catalog.boxes_of(image).unwrap(), stored);
        assert_eq!(
            catalog.review_queue().unwrap()[0].status,
            ImageStatus::Rejected
        );
    }

    #[test]
    fn a_save_for_a_missing_image_fails_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::create(&dir.path().join("p")).unwrap();
        let saver = Saver::start(project, || {});
        saver.save(SaveRequest {
            image_id: 12,
            revision: 1,
            boxes: Some(Vec::new()),
            status: Some(ImageStatus::Rejected),
        });
        let reply = (0..500).find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            saver.try_recv()
        });
        assert!(
            matches!(reply, Some(SaveReply::Failed { image_id: 12, .. })),
            "{reply:?}"
        );
    }
}
