//! The compare view's state and logic: which two units are compared (A promoted to B), picking B (the unit
//! that depends on A, else the one A depends on, else asked with completion), swapping, and reloading
//! when either unit moves. Its lower pane is the diff pane (`App::diff`), so the diff keys work there.

use std::borrow::Borrow;
use std::sync::Arc;

use super::app::{App, Effect, Flash, InputKind, Loadable, Msg, Tone, View};
use super::diffdoc::DiffDoc;
use crate::backend::{Backend, Composite, resolve_unit};
use crate::diff::Sides;
use crate::model::{Comparison, Unit};

/// What the compare view shows: the two units, and the comparison once loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareState {
    /// A (promoted from) and B (promoted to), by id.
    pub a: String,
    pub b: String,
    pub result: Loadable<Comparison>,
}

impl Default for CompareState {
    fn default() -> Self {
        Self {
            a: String::new(),
            b: String::new(),
            result: Loadable::Idle,
        }
    }
}

/// A loaded comparison with its diff laid out (off the UI thread).
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub comparison: Comparison,
    pub doc: DiffDoc,
}

impl Compared {
    /// Lays out the comparison's diff, from B (old) to A (new).
    pub fn new(comparison: Comparison) -> Self {
        let objects: Vec<_> = comparison.objects.iter().map(|o| o.as_diff()).collect();
        let sides = Sides::Units {
            old: &comparison.b.unit,
            new: &comparison.a.unit,
        };
        let doc = DiffDoc::build_between(&objects, sides);
        Self { comparison, doc }
    }
}

/// Asks the backend for the comparison and lays out its diff (B → A) off the UI thread.
pub async fn load(backend: Arc<Composite>, seq: u64, a: String, b: String) -> Msg {
    let result = match backend.compare(&a, &b).await {
        Ok(comparison) => tokio::task::spawn_blocking(move || Box::new(Compared::new(comparison)))
            .await
            .map_err(|e| format!("compare failed: {e}")),
        Err(e) => Err(e.to_string()),
    };
    Msg::Compare { seq, result }
}

/// The unit `u` is promoted to (the one unit of its source that depends on it) or, failing that, the one
/// it is promoted from (the one unit it depends on): `(A, B)` in promotion order.
fn promotion_pair<'a, U: Borrow<Unit>>(
    units: &'a [U],
    u: &'a Unit,
) -> Option<(&'a Unit, &'a Unit)> {
    let same_source = |o: &&Unit| {
        o.source == u.source && o.backend == u.backend && o.context == u.context && o.id != u.id
    };
    let dependents: Vec<&Unit> = units
        .iter()
        .map(Borrow::borrow)
        .filter(same_source)
        .filter(|o| o.depends_on.contains(&u.name))
        .collect();
    if let [b] = dependents.as_slice() {
        return Some((u, b));
    }
    let dependencies: Vec<&Unit> = units
        .iter()
        .map(Borrow::borrow)
        .filter(same_source)
        .filter(|o| u.depends_on.contains(&o.name))
        .collect();
    match dependencies.as_slice() {
        [a] => Some((a, u)),
        _ => None,
    }
}

impl App {
    /// `compare` on the units list: the selected unit against the unit it promotes to (or from); when
    /// there is no single such unit, the prompt asks which, with completion.
    pub(super) fn compare_selected(&mut self) -> Vec<Effect> {
        let Some(u) = self.current_unit().cloned() else {
            self.error("no unit selected");
            return Vec::new();
        };
        match promotion_pair(&self.snapshot.units, &u) {
            Some((a, b)) => {
                let (a, b) = (a.id.clone(), b.id.clone());
                vec![self.open_compare(a, b)]
            }
            None => {
                self.open_input(InputKind::Prompt, format!("compare {} ", u.id));
                self.flash = Some(Flash {
                    ok: true,
                    tone: Tone::Plain,
                    text: format!(
                        "no unit of {}'s source depends on it or is depended on: compare with which? (tab completes)",
                        u.name
                    ),
                });
                Vec::new()
            }
        }
    }

    /// `compare_with` in the compare view: asks for another B, keeping A.
    pub(super) fn compare_with(&mut self) -> Vec<Effect> {
        let a = self.compare.a.clone();
        self.open_input(InputKind::Prompt, format!("compare {a} "));
        Vec::new()
    }

    /// `swap_sides`: B becomes A and A becomes B.
    pub(super) fn swap_compare(&mut self) -> Vec<Effect> {
        let (a, b) = (self.compare.b.clone(), self.compare.a.clone());
        vec![self.open_compare(a, b)]
    }

    /// `:compare [A] B`: A defaults to the A of the compare view, else the unit under the cursor or on
    /// screen. Both are addressed as everywhere (an id or an unambiguous suffix).
    pub(super) fn compare_prompt(&mut self, first: String, second: Option<String>) -> Vec<Effect> {
        let (a, b) = match second {
            Some(b) => (first, b),
            None if self.view() == View::Compare => (self.compare.a.clone(), first),
            None => match self.current_unit() {
                Some(u) => (u.id.clone(), first),
                None => {
                    self.error("no unit selected: :compare A B names both");
                    return Vec::new();
                }
            },
        };
        let units = &self.snapshot.units;
        let resolved = resolve_unit(units, &a).and_then(|a| Ok((a, resolve_unit(units, &b)?)));
        match resolved {
            Ok((a, b)) => {
                let (a, b) = (a.id.clone(), b.id.clone());
                vec![self.open_compare(a, b)]
            }
            Err(e) => {
                self.error(e.to_string());
                Vec::new()
            }
        }
    }

    /// Shows the compare view of `a` against `b` (replacing one already shown) and asks for it.
    fn open_compare(&mut self, a: String, b: String) -> Effect {
        if self.view() != View::Compare {
            // The views that show a unit's diff cannot stay below: the diff pane is the comparison's now.
            self.views
                .retain(|v| matches!(v, View::Units | View::Sources));
            self.views.push(View::Compare);
        }
        // The diff pane now belongs to the comparison: no unit's diff is on screen any more.
        self.unit = None;
        self.compare = CompareState {
            a,
            b,
            result: Loadable::Loading,
        };
        self.compare_load(true)
    }

    fn compare_load(&mut self, clear: bool) -> Effect {
        let seq = self.expect_diff_doc(clear);
        Effect::LoadCompare {
            seq,
            a: self.compare.a.clone(),
            b: self.compare.b.clone(),
        }
    }

    /// A comparison arrived: shown when it is the one awaited.
    pub(super) fn on_compare(&mut self, seq: u64, result: Result<Box<Compared>, String>) {
        if !self.diff_doc_awaited(seq) {
            return;
        }
        self.dirty = true;
        match result {
            Ok(c) => {
                let Compared { comparison, doc } = *c;
                self.compare.result = Loadable::Ready(comparison);
                self.set_diff_doc(Loadable::Ready(doc));
            }
            Err(e) => {
                self.compare.result = Loadable::Failed(e.clone());
                self.set_diff_doc(Loadable::Failed(e));
            }
        }
    }

    /// Reloads the comparison shown (refresh), keeping it on screen until the new one arrives.
    pub(super) fn compare_refresh(&mut self) -> Vec<Effect> {
        if self.base_view() != View::Compare {
            return Vec::new();
        }
        vec![self.compare_load(false)]
    }

    /// A new snapshot: reload when A or B applied another revision than the one compared (or left).
    pub(super) fn compare_follow(&mut self) -> Vec<Effect> {
        let Loadable::Ready(c) = &self.compare.result else {
            return Vec::new();
        };
        let moved = [&c.a, &c.b].into_iter().any(|side| {
            self.snapshot
                .units
                .iter()
                .find(|u| u.id == side.unit)
                .is_none_or(|u| u.applied_revision != side.revision)
        });
        if moved {
            self.compare_refresh()
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::scripted::world;

    #[test]
    fn promotion_pairs_follow_depends_on() {
        let units: Vec<Unit> = world::UNITS.iter().map(|n| world::unit(n)).collect();
        let by = |n: &str| units.iter().find(|u| u.name == n).unwrap();
        let pair =
            |n: &str| promotion_pair(&units, by(n)).map(|(a, b)| (a.name.clone(), b.name.clone()));
        // dev → staging → prod: each unit promotes to the one that depends on it.
        assert_eq!(pair("dev"), Some(("dev".into(), "staging".into())));
        assert_eq!(pair("staging"), Some(("staging".into(), "prod".into())));
        // prod has no dependent: it is promoted to, from the unit it depends on.
        assert_eq!(pair("prod"), Some(("staging".into(), "prod".into())));
        // qa is in no chain: the console asks.
        assert_eq!(pair("qa"), None);
    }
}
