use super::*;

fn nested(depth: usize) -> String {
    let mut s = String::new();
    for i in 0..depth {
        s.push_str(&" ".repeat(i));
        s.push_str("k:\n");
    }
    s.push_str(&" ".repeat(depth));
    s.push_str("v\n");
    s
}

#[test]
fn accepts_what_kustomize_accepts() {
    let multi = "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: Service\n---\n";
    validate(multi).unwrap();
    validate("ratio: .nan\nmax: .inf\nmin: -.inf\n").unwrap();
    validate("? [a, b]\n: pair\n? {x: 1}\n: map\n").unwrap();
    validate(&nested(200)).unwrap();
    validate(&nested(MAX_DEPTH - 1)).unwrap();
    validate("").unwrap();
    validate("base: &b {a: 1}\nuse: *b\n").unwrap();
}

#[test]
fn rejects_with_line_and_words() {
    let e = validate(&nested(MAX_DEPTH + 5)).unwrap_err();
    assert!(
        e.message.contains("nested deeper than 10000 levels"),
        "{e:?}"
    );
    assert_eq!(e.line, Some(MAX_DEPTH + 1), "{e:?}");

    let e = validate("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
    assert!(e.message.starts_with("invalid YAML: "), "{e:?}");
    assert!(e.line.is_some_and(|l| l >= 2), "{e:?}");

    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = "a".to_owned();
    for n in ["b", "c", "d", "e", "f", "g", "h", "i", "j"] {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("{n}: &{n} [{refs}]\n"));
        prev = n.to_owned();
    }
    let e = validate(&bomb).unwrap_err();
    assert!(e.message.contains("alias bomb"), "{e:?}");
    assert!(!e.message.contains("{"), "no type names: {e:?}");
    assert!(e.line.is_some(), "{e:?}");
}

#[test]
fn explains_deserializer_errors_without_type_names() {
    let e = serde_saphyr::from_str::<serde_json::Value>("a: 1\n---\nb: 2\n").unwrap_err();
    let p = explain(&e);
    assert!(p.message.contains("several YAML documents"), "{p:?}");
    assert!(!p.message.contains("from_str"), "{p:?}");
    let e = serde_saphyr::from_str::<serde_json::Value>(&nested(100)).unwrap_err();
    let p = explain(&e);
    assert!(p.message.contains("nested too deeply"), "{p:?}");
    assert!(!p.message.contains("Depth {"), "{p:?}");
}
