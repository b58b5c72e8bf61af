use proptest::prelude::*;

use super::*;

fn entry(hash: &str, size: u64, mtime_ns: i128, next: Option<(&str, bool)>) -> InventoryEntry {
    InventoryEntry {
        hash: hash.to_owned(),
        executable: size.is_multiple_of(2),
        size,
        mtime_ns,
        ctime_ns: mtime_ns + 7,
        mode: 0o644,
        next: next.map(|(hash, executable)| NextContent {
            hash: hash.to_owned(),
            executable,
        }),
    }
}

fn sample() -> Inventory {
    let mut inv = Inventory::default();
    for i in 0..50u64 {
        let next = i
            .is_multiple_of(7)
            .then_some(("blake3:next", i.is_multiple_of(3)));
        let hash = if i.is_multiple_of(11) {
            ""
        } else {
            "blake3:0123abcd"
        };
        inv.files.insert(
            format!("d{:02}/f{i:03}.conf", i % 5),
            entry(
                hash,
                i * 100,
                1_700_000_000_123_456_789 + i128::from(i),
                next,
            ),
        );
    }
    inv.files
        .insert("ünïcode/日本.yaml".into(), entry("blake3:ff", 1, -5, None));
    inv.staging = Some("00ff00ff00ff00ff".into());
    inv
}

/// What serde_json reads from the same bytes, for comparison.
fn serde(bytes: &[u8]) -> Option<Inventory> {
    serde_json::from_slice(bytes).ok()
}

#[test]
fn reads_what_the_agent_writes_without_serde() {
    for inv in [Inventory::default(), sample()] {
        let bytes = serde_json::to_vec(&inv).unwrap();
        assert_eq!(parse_compact(&bytes), Some(inv.clone()));
        assert_eq!(parse_inventory(&bytes).unwrap(), inv);
    }
}

#[test]
fn leaves_every_other_shape_to_serde_json_with_the_same_result() {
    let inv = sample();
    let pretty = serde_json::to_vec_pretty(&inv).unwrap();
    assert_eq!(parse_compact(&pretty), None);
    assert_eq!(parse_inventory(&pretty).unwrap(), inv);
    let others: &[&str] = &[
        // escapes, unknown fields, null, out of order and duplicate keys, floats, -0, leading zeros
        r#"{"files":{"a\"b":{"hash":"h","executable":false,"size":1,"mtimeNs":2}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":1,"mtimeNs":2,"extra":1}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":1,"mtimeNs":2,"next":null}}}"#,
        r#"{"files":{"b":{"hash":"h","executable":false,"size":1,"mtimeNs":2},"a":{"hash":"h","executable":true,"size":1,"mtimeNs":2}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":1,"mtimeNs":2},"a":{"hash":"i","executable":true,"size":1,"mtimeNs":2}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":1.0,"mtimeNs":2}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":1,"mtimeNs":-0}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":01,"mtimeNs":2}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":1,"mtimeNs":2,"size":3}}}"#,
        r#"{"files":{},"staging":null}"#,
        r#"{"staging":"t","files":{}} "#,
        r#"{"other":1}"#,
    ];
    for json in others {
        assert_eq!(parse_compact(json.as_bytes()), None, "{json}");
        assert_eq!(
            parse_inventory(json.as_bytes()).ok(),
            serde(json.as_bytes()),
            "{json}"
        );
    }
    // What it does accept, it reads as serde_json does: fields in any order, defaults, extreme numbers.
    let accepted: &[&str] = &[
        r#"{}"#,
        r#"{"staging":"t","files":{}}"#,
        r#"{"files":{"a":{"mtimeNs":-170141183460469231731687303715884105728,"size":18446744073709551615,"executable":true,"hash":"h"}}}"#,
        r#"{"files":{"a":{"hash":"h","executable":false,"size":0,"mtimeNs":0,"ctimeNs":170141183460469231731687303715884105727,"mode":4294967295,"next":{"executable":true,"hash":"n"}}}}"#,
    ];
    for json in accepted {
        let fast = parse_compact(json.as_bytes());
        assert!(fast.is_some(), "{json}");
        assert_eq!(fast, serde(json.as_bytes()), "{json}");
    }
}

#[test]
fn a_torn_or_damaged_file_is_an_error_as_before() {
    let bytes = serde_json::to_vec(&sample()).unwrap();
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(parse_compact(&bytes[..cut]), None);
        assert!(parse_inventory(&bytes[..cut]).is_err());
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("inventory.json");
    assert_eq!(read_inventory(&p).unwrap(), Inventory::default());
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_inventory(&p).unwrap_err();
    assert!(e.contains("corrupt state file"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any byte changed anywhere: the fast reader either declines or agrees with serde_json.
    #[test]
    fn never_disagrees_with_serde_json(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = serde_json::to_vec(&sample()).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Some(fast) = parse_compact(&bytes) {
            prop_assert_eq!(Some(fast), serde(&bytes));
        }
    }

    #[test]
    fn reads_any_inventory_it_wrote(
        files in prop::collection::btree_map(
            "[a-z0-9/._ -]{1,20}|\\PC{1,8}",
            (any::<bool>(), any::<u64>(), any::<i128>(), any::<i128>(), any::<u32>(),
             prop::option::of(any::<bool>())),
            0..20,
        ),
        staging in prop::option::of("[0-9a-f]{16}"),
    ) {
        let inv = Inventory {
            files: files
                .into_iter()
                .map(|(k, (executable, size, mtime_ns, ctime_ns, mode, next))| {
                    let e = InventoryEntry {
                        hash: format!("blake3:{size:x}"),
                        executable,
                        size,
                        mtime_ns,
                        ctime_ns,
                        mode,
                        next: next.map(|executable| NextContent { hash: "blake3:n".into(), executable }),
                    };
                    (k, e)
                })
                .collect(),
            staging,
        };
        let bytes = serde_json::to_vec(&inv).unwrap();
        prop_assert_eq!(serde(&bytes), Some(inv.clone()));
        // Paths with characters JSON escapes are left to serde_json; everything else is read fast.
        let escaped = inv.files.keys().any(|k| k.chars().any(|c| c == '"' || c == '\\' || c < ' '));
        let fast = parse_compact(&bytes);
        prop_assert_eq!(fast.is_none(), escaped);
        prop_assert_eq!(parse_inventory(&bytes).unwrap(), inv);
    }
}
