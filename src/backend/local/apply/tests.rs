use super::*;
use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn file(s: &str) -> RenderedFile {
    RenderedFile {
        content: s.as_bytes().to_vec(),
        executable: false,
    }
}

fn policy(drift: DriftMode) -> Policy {
    Policy {
        drift,
        prune: true,
        adopt: false,
    }
}

fn run_with(target: &Path, desired: &Rendered, inv: &mut Inventory, p: Policy) -> ApplyReport {
    let saved = RefCell::new(0);
    let drift = drifted(target, inv);
    let r = apply(
        target,
        desired,
        inv,
        &drift,
        p,
        &|_| {
            *saved.borrow_mut() += 1;
            Ok(())
        },
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(*saved.borrow() >= usize::from(r.changed() > 0));
    r
}

fn run(target: &Path, desired: &Rendered, inv: &mut Inventory, mode: DriftMode) -> ApplyReport {
    run_with(target, desired, inv, policy(mode))
}

#[test]
fn apply_prune_and_drift() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("live");
    fs::create_dir_all(&t).unwrap();
    fs::write(t.join("mine.txt"), "unmanaged\n").unwrap();
    let mut inv = Inventory::default();
    let mut desired = Rendered::new();
    desired.insert("a.yaml".into(), file("a: 1\n"));
    desired.insert(
        "sub/b.conf".into(),
        RenderedFile {
            content: b"b\n".to_vec(),
            executable: true,
        },
    );
    let r = run(&t, &desired, &mut inv, DriftMode::Repair);
    assert_eq!(r.written, ["a.yaml", "sub/b.conf"]);
    assert!(
        fs::metadata(t.join("sub/b.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o111
            != 0
    );
    assert!(
        run(&t, &desired, &mut inv, DriftMode::Repair)
            .written
            .is_empty(),
        "second pass is a no-op"
    );

    fs::write(t.join("a.yaml"), "a: 2\n").unwrap();
    assert_eq!(drifted(&t, &inv), ["a.yaml"]);
    assert!(
        run(&t, &desired, &mut inv, DriftMode::Report)
            .written
            .is_empty(),
        "report leaves drift"
    );
    assert_eq!(fs::read_to_string(t.join("a.yaml")).unwrap(), "a: 2\n");
    assert_eq!(
        run(&t, &desired, &mut inv, DriftMode::Repair).written,
        ["a.yaml"]
    );
    assert!(drifted(&t, &inv).is_empty());

    desired.remove("sub/b.conf");
    let r = run(&t, &desired, &mut inv, DriftMode::Repair);
    assert_eq!(r.pruned, ["sub/b.conf"]);
    assert!(!t.join("sub").exists(), "emptied directory removed");
    assert_eq!(
        fs::read_to_string(t.join("mine.txt")).unwrap(),
        "unmanaged\n",
        "unmanaged file untouched"
    );

    fs::write(t.join("a.yaml"), "edited by hand\n").unwrap();
    desired.clear();
    let r = run(&t, &desired, &mut inv, DriftMode::Repair);
    assert_eq!(r.released, ["a.yaml"], "a hand-edited file is never pruned");
    assert!(t.join("a.yaml").exists());
    assert!(inv.files.is_empty());
}

/// Applies `desired` to `target` with an empty inventory, in repair mode with prune.
fn apply_fresh(target: &Path, desired: &Rendered) -> Result<ApplyReport, String> {
    apply(
        target,
        desired,
        &mut Inventory::default(),
        &[],
        policy(DriftMode::Repair),
        &|_| Ok(()),
        &AtomicBool::new(false),
    )
}

#[test]
fn never_writes_through_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let t = dir.path().join("live");
    fs::create_dir_all(&t).unwrap();
    std::os::unix::fs::symlink(&outside, t.join("sub")).unwrap();
    let mut desired = Rendered::new();
    desired.insert("sub/x".into(), file("x"));
    let e = apply_fresh(&t, &desired).unwrap_err();
    assert!(e.contains("symlink"), "{e}");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);

    let swapped = dir.path().join("swapped");
    std::os::unix::fs::symlink(&outside, &swapped).unwrap();
    let e = apply_fresh(&swapped, &desired).unwrap_err();
    assert!(e.contains("is a symlink"), "{e}");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn recover_removes_only_the_recorded_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("d")).unwrap();
    fs::write(
        dir.path().join("d").join(format!("{TEMP_PREFIX}abc.1")),
        "x",
    )
    .unwrap();
    fs::write(dir.path().join(format!("{TEMP_PREFIX}mine")), "user").unwrap();
    fs::write(dir.path().join("keep"), "x").unwrap();
    let mut inv = Inventory {
        staging: Some("abc".into()),
        ..Inventory::default()
    };
    assert_eq!(recover(dir.path(), &mut inv), (1, true));
    assert!(inv.staging.is_none());
    assert!(dir.path().join("keep").exists());
    assert!(dir.path().join(format!("{TEMP_PREFIX}mine")).exists());
}

/// The inventory after a crash between rename and save: `next` recorded, the live file renamed.
#[test]
fn recover_settles_pending_writes_against_the_live_files() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let mut desired = Rendered::new();
    for n in ["a", "b", "c"] {
        desired.insert(n.into(), file("old"));
    }
    let mut inv = Inventory::default();
    run(t, &desired, &mut inv, DriftMode::Repair);
    let next = Some(NextContent {
        hash: hash_bytes(b"new"),
        executable: false,
    });
    for e in inv.files.values_mut() {
        e.next = next.clone();
    }
    inv.files.insert(
        "d".into(),
        InventoryEntry {
            hash: String::new(),
            executable: false,
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            mode: 0,
            next: next.clone(),
        },
    );
    fs::write(t.join("a"), "new").unwrap(); // renamed before the crash
    fs::write(t.join("c"), "hand").unwrap(); // neither: drift
    let (_, changed) = recover(t, &mut inv);
    assert!(changed);
    assert!(inv.files.values().all(|e| e.next.is_none()));
    assert_eq!(inv.files["a"].hash, hash_bytes(b"new"));
    assert_eq!(inv.files["b"].hash, hash_bytes(b"old"));
    assert!(
        !inv.files.contains_key("d"),
        "a first write that never happened"
    );
    assert_eq!(drifted(t, &inv), ["c"]);
}

#[test]
fn unmanaged_files_are_conflicts_unless_identical_or_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    fs::write(t.join("local.conf"), "mine\n").unwrap();
    fs::write(t.join("same.conf"), "same\n").unwrap();
    let mut desired = Rendered::new();
    desired.insert("local.conf".into(), file("theirs\n"));
    desired.insert("same.conf".into(), file("same\n"));
    let mut inv = Inventory::default();
    let r = run(t, &desired, &mut inv, DriftMode::Repair);
    assert_eq!(r.adopted, ["same.conf"]);
    assert_eq!(r.conflicts.len(), 1);
    assert!(
        r.conflicts[0].starts_with("local.conf: "),
        "{:?}",
        r.conflicts
    );
    assert_eq!(fs::read_to_string(t.join("local.conf")).unwrap(), "mine\n");
    assert!(!inv.files.contains_key("local.conf"));

    desired.clear();
    let r = run(t, &desired, &mut inv, DriftMode::Repair);
    assert_eq!(
        r.pruned,
        ["same.conf"],
        "an adopted identical file is managed"
    );
    assert_eq!(fs::read_to_string(t.join("local.conf")).unwrap(), "mine\n");

    desired.insert("local.conf".into(), file("theirs\n"));
    let p = Policy {
        adopt: true,
        ..policy(DriftMode::Repair)
    };
    let r = run_with(t, &desired, &mut inv, p);
    assert_eq!(r.written, ["local.conf"], "adopt: true takes it over");
}

#[test]
fn new_files_honour_the_umask_and_exec_bit_changes_are_drift() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let mut desired = Rendered::new();
    desired.insert(
        "run.sh".into(),
        RenderedFile {
            content: b"#!/bin/sh\n".to_vec(),
            executable: true,
        },
    );
    desired.insert("a.conf".into(), file("a\n"));
    let mut inv = Inventory::default();
    run(t, &desired, &mut inv, DriftMode::Repair);
    let mode = |p: &str| fs::metadata(t.join(p)).unwrap().permissions().mode() & 0o777;
    // std creates files with 0666 less the umask: the same as the agent must.
    fs::write(t.join("probe"), "").unwrap();
    let umask = !mode("probe") & 0o666;
    assert_eq!(mode("a.conf"), 0o666 & !umask);
    assert_eq!(mode("run.sh") & 0o666, 0o666 & !umask);
    assert_ne!(mode("run.sh") & 0o111, 0);
    fs::set_permissions(t.join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(drifted(t, &inv), ["run.sh"]);
}

#[test]
fn many_files_are_staged_and_renamed_on_several_threads_with_the_same_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let n = PARALLEL_FROM * 3;
    let mut desired = Rendered::new();
    for i in 0..n {
        desired.insert(format!("d{:02}/f{i:04}", i % 7), file(&format!("v1 {i}\n")));
    }
    // Managed and no longer desired: becomes a directory in the next render.
    desired.insert("was-a-file".into(), file("old\n"));
    let mut inv = Inventory::default();
    let r = run(t, &desired, &mut inv, DriftMode::Repair);
    assert_eq!(r.written.len(), n + 1);
    assert!(r.written.windows(2).all(|w| w[0] < w[1]), "in path order");
    assert!(drifted(t, &inv).is_empty());

    desired.remove("was-a-file");
    desired.insert("was-a-file/now".into(), file("new\n"));
    fs::write(t.join("d00/mine"), "mine\n").unwrap();
    desired.insert("d00/mine".into(), file("theirs\n"));
    for i in (0..n).step_by(2) {
        desired.insert(format!("d{:02}/f{i:04}", i % 7), file(&format!("v2 {i}\n")));
    }
    let mut policy = policy(DriftMode::Repair);
    policy.prune = false;
    let r = run_with(t, &desired, &mut inv, policy);
    assert_eq!(r.written.len(), n.div_ceil(2) + 1, "{:?}", r.conflicts);
    assert_eq!(r.conflicts.len(), 1, "{:?}", r.conflicts);
    assert!(
        r.conflicts[0].starts_with("d00/mine: "),
        "{:?}",
        r.conflicts
    );
    assert_eq!(
        fs::read_to_string(t.join("was-a-file/now")).unwrap(),
        "new\n"
    );
    assert_eq!(fs::read_to_string(t.join("d02/f0002")).unwrap(), "v2 2\n");
    assert_eq!(fs::read_to_string(t.join("d01/f0001")).unwrap(), "v1 1\n");
    assert!(drifted(t, &inv).is_empty());
    assert!(inv.staging.is_none() && inv.files.values().all(|e| e.next.is_none()));
    let temps = walk(t)
        .into_iter()
        .filter(|p| p.contains(TEMP_PREFIX))
        .count();
    assert_eq!(temps, 0);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
