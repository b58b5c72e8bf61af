//! Ages on screen stay true: the loop redraws exactly when an age shown changes, and never in between.

use jiff::Timestamp;

use super::app::{App, Loadable, View};

impl App {
    /// The next instant an age on the screen shows another value: the loop redraws exactly then, so a
    /// console nobody touches keeps true ages and writes nothing in between.
    pub fn next_age_change(&self) -> Option<Timestamp> {
        use crate::format::age_changes_at;
        let now = self.now;
        let mut times: Vec<(Timestamp, bool)> = Vec::new();
        match self.view() {
            View::Units => {
                let first = self.units.selected.saturating_sub(self.page());
                times.extend(
                    self.units
                        .visible
                        .iter()
                        .skip(first)
                        .take(self.page() * 2)
                        .filter_map(|&i| self.snapshot.units.get(i)?.last_reconcile_at)
                        .map(|t| (t, true)),
                );
            }
            View::Sources => times.extend(
                self.snapshot
                    .sources
                    .iter()
                    .filter_map(|s| s.last_fetch_at)
                    .map(|t| (t, true)),
            ),
            View::Detail => {
                if let Some(u) = self.current_unit() {
                    times.push((u.status.since, false));
                    times.extend(u.last_reconcile_at.map(|t| (t, false)));
                }
                if let Some(Loadable::Ready(events)) = &self.detail.events {
                    times.extend(events.iter().take(self.page() * 2).map(|e| (e.time, false)));
                }
            }
            View::History => {
                if let Some(list) = self.history.entries.ready() {
                    let first = self.history.selected.saturating_sub(self.page());
                    times.extend(
                        list.iter()
                            .skip(first)
                            .take(self.page() * 2)
                            .map(|e| (e.time, false)),
                    );
                }
            }
            View::Compare => {
                if let Some(commits) = self.compare.result.ready().and_then(|c| c.commits.as_ref())
                {
                    times.extend(commits.iter().map(|c| (c.time, false)));
                }
            }
            View::Diff | View::Help => {}
        }
        times
            .into_iter()
            .map(|(t, coarse)| age_changes_at(t, now, coarse))
            .filter(|t| *t > now)
            .min()
    }
}
