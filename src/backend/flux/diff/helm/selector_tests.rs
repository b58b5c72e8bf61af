use super::*;
use serde_json::json;

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web-api", "namespace": "prod",
                     "labels": {"app": "web", "tier": "front", "replicas": "3"},
                     "annotations": {"example.com/owner": "team-a"}},
        "spec": {"replicas": 3}
    })
}

fn selects(target: Value) -> bool {
    match Target::compile(&target) {
        Ok(t) => t.matches(&deployment()),
        Err(e) => panic!("{target}: {e}"),
    }
}

#[test]
fn an_empty_target_selects_everything() {
    assert!(selects(json!({})));
}

#[test]
fn fields_are_regular_expressions_anchored_at_both_ends() {
    assert!(selects(
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    ));
    assert!(selects(
        json!({"name": "web-.*", "namespace": "prod|staging"})
    ));
    // anchored: a part of the name does not select
    assert!(!selects(json!({"name": "web"})));
    assert!(!selects(json!({"kind": "Deploy"})));
    assert!(!selects(json!({"group": "core"})));
    // the core group is the empty string: only an empty pattern (any) or one matching "" selects it
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let core = Target::compile(&json!({"group": "^$|x", "version": "v1"})).unwrap();
    assert!(core.matches(&cm));
    assert!(!core.matches(&deployment()));
}

#[test]
fn label_and_annotation_selectors_must_both_hold() {
    assert!(selects(
        json!({"labelSelector": "app=web,tier in (front,back)"})
    ));
    assert!(selects(
        json!({"labelSelector": "app==web, !canary, tier notin (db)"})
    ));
    assert!(selects(
        json!({"annotationSelector": "example.com/owner=team-a"})
    ));
    assert!(!selects(
        json!({"labelSelector": "app=web", "annotationSelector": "example.com/owner!=team-a"})
    ));
    assert!(!selects(json!({"labelSelector": "app=api"})));
    assert!(!selects(json!({"labelSelector": "canary"})));
    assert!(selects(json!({"labelSelector": "replicas>2,replicas<4"})));
    assert!(!selects(json!({"labelSelector": "replicas>3"})));
    // a label that is not a number is neither greater nor less
    assert!(!selects(json!({"labelSelector": "app>1"})));
}

#[test]
fn label_selectors_parse_as_kubernetes_parses_them() {
    let eq = |k: &str, v: &str| Requirement::Expr(Expression::Equal(k.into(), v.into()));
    assert_eq!(parse("a=b").unwrap(), vec![eq("a", "b")]);
    assert_eq!(
        parse(" a == b ,c").unwrap(),
        vec![
            eq("a", "b"),
            Requirement::Expr(Expression::Exists("c".into()))
        ]
    );
    // a value left out is the empty value
    assert_eq!(parse("a=").unwrap(), vec![eq("a", "")]);
    assert_eq!(
        parse("x in (foo,,baz),z notin ()").unwrap(),
        vec![
            Requirement::Expr(Expression::In(
                "x".into(),
                ["".into(), "baz".into(), "foo".into()].into()
            )),
            Requirement::Expr(Expression::NotIn("z".into(), ["".into()].into())),
        ]
    );
    // "in" is a key or a value where no operator is read
    assert_eq!(
        parse("in in (in)").unwrap(),
        vec![Requirement::Expr(Expression::In(
            "in".into(),
            ["in".into()].into()
        ))]
    );
    assert_eq!(
        parse("!a").unwrap(),
        vec![Requirement::Expr(Expression::DoesNotExist("a".into()))]
    );
    assert_eq!(
        parse("n<5").unwrap(),
        vec![Requirement::LessThan("n".into(), 5)]
    );
    assert_eq!(parse("").unwrap(), vec![]);
}

#[test]
fn malformed_selectors_are_refused() {
    for bad in [
        "a=b,",
        ",a",
        "a b",
        "a in b",
        "a in (b",
        "!a=b",
        "a=(b)",
        "a>b",
        "-a=b",
        "a=b c",
        "Example.com/a=b",
        "a/b/c=d",
        "a=-b",
        &format!("a={}", "v".repeat(64)),
    ] {
        assert!(parse(bad).is_err(), "{bad:?} parsed: {:?}", parse(bad));
    }
}

#[test]
fn a_target_that_does_not_compile_says_which_field() {
    let e = Target::compile(&json!({"name": "web-("})).unwrap_err();
    assert!(
        e.starts_with("name \"web-(\" is not a regular expression"),
        "{e}"
    );
    let e = Target::compile(&json!({"labelSelector": "a in b"})).unwrap_err();
    assert!(
        e.starts_with("labelSelector \"a in b\" does not parse"),
        "{e}"
    );
}
