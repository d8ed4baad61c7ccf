//! The window's side of team work: the lease this window holds on the item
//! (or eye) it shows, renewed while it stays open; the review queue and the
//! verdicts given from it; and an offline copy's sync with its project —
//! by itself every half minute while labels wait, or on request — in a
//! background thread, so the window never waits for the network; and the
//! password prompt of a team project whose server wants one.
//! It owns [`TeamCommand`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::store::exams::EyeRef;
use crate::store::offline::{self, OfflineCopy, SyncReport};
use crate::store::queue::{Claim, ReviewEntry, Verdict, WorkUnit};
use crate::store::{Project, StoreError};

/// How often an offline copy tries its project while labels wait.
pub const SYNC_EVERY: Duration = Duration::from_secs(30);
/// How long a team window's server may stay silent before the window works
/// on a fallback copy (a restart of the server is usually shorter).
pub const FALL_BACK_AFTER: Duration = Duration::from_secs(2);
/// How often a fallback copy looks whether its server is back.
pub const FALLBACK_RETRY: Duration = Duration::from_secs(5);

/// What the team panels ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum TeamCommand {
    /// Show or hide the review queue.
    ShowReview(bool),
    /// A reviewer's verdict on one annotator's current label of an item.
    Review {
        item_id: i64,
        annotator: String,
        verdict: Verdict,
        reason: String,
    },
    /// A reviewer's verdict on one grader's current grade of an eye.
    ReviewEye {
        eye: EyeRef,
        annotator: String,
        verdict: Verdict,
        reason: String,
    },
    /// Push an offline copy's labels to its project now.
    SyncNow,
    /// Claim items of this team project and write them as an offline copy
    /// in this (new or empty) folder, then open it.
    TakeOffline { folder: PathBuf, items: usize },
}

/// A team project the window could not open for want of a password: the
/// prompt shows the login (never a password) and whether the last one was
/// refused.
#[derive(Clone, Debug, PartialEq)]
pub struct PasswordPrompt {
    /// The project's URL without any password.
    pub url: PathBuf,
    /// Whose password, for which database where (no password in it).
    pub server: String,
    /// The server refused the password it was given.
    pub wrong: bool,
}

impl PasswordPrompt {
    pub fn new(url: &Path, server: String, wrong: bool) -> Self {
        let text = url.to_string_lossy();
        // "lead, database screening on db.clinic:5432" reads better than a URL.
        let login = crate::store::postgres::Locator::parse(&text)
            .ok()
            .and_then(|l| {
                let user = l.effective_user()?;
                let place = if l.host.starts_with('/') {
                    l.host.clone()
                } else {
                    format!("{}:{}", l.host, l.port)
                };
                Some(format!("{user}, database {} on {place}", l.database))
            })
            .unwrap_or(server);
        Self {
            url: PathBuf::from(crate::store::postgres::without_password(&text)),
            server: login,
            wrong,
        }
    }

    /// Keeps `password` for this login (in memory, for this run) and
    /// returns the URL to open, which carries none.
    pub fn remember(&self, password: &str) -> Result<PathBuf, String> {
        let locator = crate::store::postgres::Locator::parse(&self.url.to_string_lossy())
            .map_err(|e| e.to_string())?;
        locator.remember_typed_password(password);
        Ok(self.url.clone())
    }

    /// Drops the password typed for the login of `url` (it was refused).
    pub fn forget(url: &Path) {
        if let Ok(locator) = crate::store::postgres::Locator::parse(&url.to_string_lossy()) {
            locator.forget_typed_password();
        }
    }
}

/// A lease this window holds.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldLease {
    pub unit: WorkUnit,
    /// The eye, as the exam view names it, for an eye's lease.
    pub eye: Option<EyeRef>,
    /// Half the lease's time: renewed this often while open.
    renew_every: Duration,
    renewed: Instant,
}

/// Where an offline copy's sync stands.
#[derive(Debug, Default)]
pub enum SyncState {
    #[default]
    Idle,
    Running(mpsc::Receiver<Result<SyncReport, String>>),
    /// The last attempt, and when.
    Done(Result<SyncReport, String>, Instant),
}

/// The team state of an open project.
#[derive(Debug, Default)]
pub struct Team {
    pub lease: Option<HeldLease>,
    /// The review queue is shown.
    pub review_shown: bool,
    /// The queue as last read (`None`: to be read when shown).
    pub review: Option<Vec<ReviewEntry>>,
    /// The queue's eyes, read with it.
    pub eye_review: Vec<crate::store::eye_review::EyeReviewEntry>,
    /// Set when the open project is an offline copy.
    pub offline: Option<OfflineCopy>,
    pub sync: SyncState,
    last_sync_attempt: Option<Instant>,
    /// Labels changed since the offline copy's waiting count was read.
    offline_stale: bool,
    /// Since when a team project's server has not answered.
    silent_since: Option<Instant>,
    /// A fallback copy was tried for this project (once per opening).
    pub fallback_tried: bool,
    /// A team project's exam and case rows as last read, for a fallback copy.
    pub standby_tables: crate::store::offline_tables::CarriedTables,
    /// Its painted maps as last read (each painter's current one), ditto.
    pub standby_maps: BTreeMap<i64, Vec<crate::store::label_maps::LabelMapRecord>>,
}

impl Team {
    /// The team state of a just opened project.
    pub fn opened(project: &Project) -> Result<Self, StoreError> {
        Ok(Self {
            offline: offline::offline_copy(project)?,
            ..Self::default()
        })
    }

    /// Remembers a claim this window got.
    pub fn hold(&mut self, claim: &Claim, eye: Option<EyeRef>) {
        self.lease = Some(HeldLease {
            unit: claim.unit,
            eye,
            renew_every: Duration::from_millis(u64::try_from(claim.lease_ms / 2).unwrap_or(0))
                .max(Duration::from_secs(1)),
            renewed: Instant::now(),
        });
    }

    /// Renews the held lease while `open` is what the window shows, at half
    /// its time; lets it run out once the window shows something else.
    pub fn keep_lease(
        &mut self,
        project: &mut Project,
        annotator: &str,
        shown_item: Option<i64>,
        shown_eye: Option<&EyeRef>,
    ) -> Result<(), StoreError> {
        let Some(lease) = &mut self.lease else {
            return Ok(());
        };
        let open = match lease.unit {
            WorkUnit::Item(id) => shown_item == Some(id),
            WorkUnit::Eye(..) => lease.eye.is_some() && shown_eye == lease.eye.as_ref(),
        };
        if !open {
            self.lease = None;
            return Ok(());
        }
        if lease.renewed.elapsed() >= lease.renew_every {
            project.renew_lease(annotator, lease.unit)?;
            lease.renewed = Instant::now();
        }
        Ok(())
    }

    /// Notes whether the team project's server answers (`None`: not a team
    /// project).
    pub fn note_online(&mut self, online: Option<bool>) {
        match online {
            Some(false) => {
                self.silent_since.get_or_insert_with(Instant::now);
            }
            _ => self.silent_since = None,
        }
    }

    /// Whether the window should now work on a fallback copy: the server
    /// has been silent for [`FALL_BACK_AFTER`] and none was tried yet.
    pub fn should_fall_back(&self) -> bool {
        !self.fallback_tried
            && self
                .silent_since
                .is_some_and(|since| since.elapsed() >= FALL_BACK_AFTER)
    }

    /// When a fallback copy has synced everything written in it, the
    /// project to return to and how many rows the last sync pushed.
    pub fn back_online(&self) -> Option<(String, usize)> {
        let copy = self.offline.as_ref()?;
        match &self.sync {
            SyncState::Done(Ok(report), _) if copy.fallback && copy.waiting() == 0 => Some((
                copy.of.clone(),
                report.labels + report.remarks + report.grades + report.maps,
            )),
            _ => None,
        }
    }

    /// Each painter's current map as last read, its file read from the share
    /// now (while it answers: painting goes on from it in a fallback copy);
    /// and how many could not be read (the server keeps those).
    pub fn standby_map_files(
        &self,
        files_root: &Path,
    ) -> (Vec<crate::store::label_maps::MapFile>, usize) {
        let mut maps = Vec::new();
        let mut unreadable = 0;
        for records in self.standby_maps.values() {
            for r in records {
                match crate::store::label_maps::MapFile::read(files_root, r) {
                    Ok(map) => maps.push(map),
                    Err(_) => unreadable += 1,
                }
            }
        }
        (maps, unreadable)
    }

    /// Forgets the queue as read (labels changed); read again when shown.
    pub fn labels_changed(&mut self) {
        self.review = None;
        self.offline_stale = self.offline.is_some();
    }

    /// Re-reads what waits to sync after labels changed.
    pub fn refresh_offline(&mut self, project: &Project) -> Result<(), StoreError> {
        if self.offline_stale {
            self.offline = offline::offline_copy(project)?;
            self.offline_stale = false;
        }
        Ok(())
    }

    /// Reads the review queue when it is shown and not read since the last change.
    pub fn refresh_review(&mut self, project: &Project) -> Result<(), StoreError> {
        if self.review_shown && self.review.is_none() {
            self.eye_review = project.eye_review_queue()?;
            self.review = Some(project.review_queue()?);
        }
        Ok(())
    }

    /// Starts a sync of the offline copy at `root` in the background when
    /// asked (`now`) or when labels wait and [`SYNC_EVERY`] has passed.
    pub fn maybe_sync(&mut self, root: &Path, now: bool) {
        let Some(copy) = &self.offline else { return };
        if matches!(self.sync, SyncState::Running(_)) {
            return;
        }
        // A fallback copy also looks for its server with nothing waiting:
        // the window goes back to the server once it answers.
        let waiting = copy.waiting() > 0 || copy.fallback;
        let every = if copy.fallback {
            FALLBACK_RETRY
        } else {
            SYNC_EVERY
        };
        let due = self
            .last_sync_attempt
            .is_none_or(|at| at.elapsed() >= every);
        if !(now || (waiting && due)) {
            return;
        }
        self.last_sync_attempt = Some(Instant::now());
        let (send, receive) = mpsc::channel();
        let root = root.to_path_buf();
        let started = std::thread::Builder::new()
            .name("loupe-sync".into())
            .spawn(move || {
                let result = offline::sync_folder(&root)
                    .map(|(_, report)| report)
                    .map_err(|e| e.to_string());
                let _ = send.send(result);
            });
        self.sync = match started {
            Ok(_) => SyncState::Running(receive),
            Err(e) => SyncState::Done(Err(format!("cannot start the sync: {e}")), Instant::now()),
        };
    }

    /// Takes a finished sync's result; then re-reads what waits.
    pub fn poll_sync(&mut self, project: &Project) -> Result<(), StoreError> {
        let SyncState::Running(receive) = &self.sync else {
            return Ok(());
        };
        let result = match receive.try_recv() {
            Ok(result) => result,
            Err(mpsc::TryRecvError::Empty) => return Ok(()),
            Err(mpsc::TryRecvError::Disconnected) => Err("the sync stopped".into()),
        };
        self.sync = SyncState::Done(result, Instant::now());
        self.offline = offline::offline_copy(project)?;
        Ok(())
    }

    /// The status bar's words for the team state, if any.
    pub fn status(&self) -> Option<String> {
        if let Some(copy) = &self.offline {
            let place = crate::store::postgres::redact(&copy.of);
            let waiting = copy.waiting();
            let last = match &self.sync {
                SyncState::Idle => String::new(),
                SyncState::Running(_) => " · syncing…".into(),
                SyncState::Done(Ok(report), at) => format!(
                    " · online: synced {} labels {} s ago",
                    report.labels + report.remarks + report.grades + report.maps,
                    at.elapsed().as_secs()
                ),
                // A fallback copy says that much already; its tries every
                // few seconds would only repeat the connection error.
                SyncState::Done(Err(_), at) if copy.fallback => {
                    format!(" · not back yet (tried {} s ago)", at.elapsed().as_secs())
                }
                SyncState::Done(Err(e), _) => format!(" · offline ({e})"),
            };
            let what = if copy.fallback {
                format!("offline: {place} does not answer · working on a copy as")
            } else {
                format!("offline copy of {place} as")
            };
            return Some(format!(
                "{what} {} · {waiting} label{} wait to sync{last}",
                copy.annotator,
                if waiting == 1 { "" } else { "s" }
            ));
        }
        let lease = self.lease.as_ref()?;
        let what = match (&lease.unit, &lease.eye) {
            (WorkUnit::Item(id), _) => format!("item {id}"),
            (WorkUnit::Eye(..), Some(eye)) => eye.to_string(),
            (WorkUnit::Eye(..), None) => "this eye".into(),
        };
        Some(format!(
            "{what} is yours (claimed; others are handed other work)"
        ))
    }
}

/// Opens a team project's items as an offline copy in `folder`.
pub fn take_offline(
    project: &mut Project,
    annotator: &str,
    folder: &Path,
    items: usize,
) -> Result<PathBuf, String> {
    let report = offline::checkout(
        project,
        Some(annotator),
        folder,
        items,
        offline::DEFAULT_OFFLINE_HOURS,
    )
    .map_err(|e| e.to_string())?;
    Ok(report.folder)
}
