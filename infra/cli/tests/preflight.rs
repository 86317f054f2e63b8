//! `flyt preflight` against the sandbox playing FS, WISEflow and Inspera, with the stack's
//! configuration table and secrets: every element holds or says why it was not checked, nothing
//! personal is printed, and when the sandbox answers in another shape the command names the
//! element that differs and exits non-zero.

mod common;

use common::{failed, local, succeeded, Flyt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preflight_holds_against_the_sandbox_and_names_what_differs_when_it_changes_shape() {
    let local = local().await;
    let poll = &local.stack.functions["FsPollFunction"].vars;
    let fetch = &local.stack.functions["BokbasenFetchFunction"].vars;
    let var = |name: &str| {
        poll.get(name)
            .or_else(|| fetch.get(name))
            .expect("the stack's variable")
            .to_owned()
    };
    let mut flyt = Flyt::new(&local.emulator_url).env("CONFIG_TABLE", local.table("ConfigTable"));
    for name in [
        "FS_SECRET_ID",
        "EXAM_SYSTEMS_SECRET_ID",
        "BOKBASEN_API_URL",
        "BOKBASEN_TOKEN_URL",
        "BOKBASEN_AUDIENCE",
        "BOKBASEN_SECRET_ID",
    ] {
        flyt = flyt.env(name, &var(name));
    }

    let args = ["preflight"];
    let (stdout, _) = succeeded(&args, flyt.run(&args));
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        "holds       fs       uio      GET /eksamen/klager/{examSystem}",
        "holds       fs       uib      endretDato",
        "holds       fs       uib      GET /eksamen/{examSystem}/{vurdId} karakterskala",
        "holds       wiseflow uib      POST /sources/search",
        "holds       wiseflow uib      GET /flows/{flowId}/participants candidate field",
        "holds       inspera  uio      GET /v1/subscription/events",
        "holds       inspera  uio      GET /v1/test/{testId}?isExternal=true",
        "holds       bokbasen deployment export reports (first page)",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "no line starts with {expected:?}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("differs "), "{stdout}");
    let personal: Vec<String> = local
        .sandbox
        .fs
        .personal_data()
        .into_iter()
        .chain(local.sandbox.inspera.personal_data())
        .filter(|value| value.len() > 3)
        .collect();
    for value in &personal {
        assert!(!stdout.contains(value.as_str()), "personal data printed");
    }

    // The tenant names its events otherwise, and FS gives the exams no grade scale.
    local.sandbox.inspera.rename_events(&["grades_explained"]);
    for nr in ["185", "194"] {
        for exam in local.sandbox.fs.exams(nr) {
            local.sandbox.fs.drop_grade_scale(&exam.assessment_id);
        }
    }
    let args = ["preflight", "--json"];
    let (stdout, stderr) = failed(&args, flyt.run(&args));
    assert!(stderr.contains("contract elements differ"), "{stderr}");
    let findings: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("a JSON report");
    let differing: Vec<(String, String, String)> = findings
        .iter()
        .filter(|f| f["outcome"] == "differs")
        .map(|f| {
            (
                f["system"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
                f["element"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let named = |system: &str, subject: &str, element: &str| {
        differing
            .iter()
            .any(|(s, o, e)| s == system && o == subject && e == element)
    };
    assert!(
        named("inspera", "uio", "GET /v1/subscription/events"),
        "{differing:?}"
    );
    assert!(
        named(
            "fs",
            "uio",
            "GET /eksamen/{examSystem}/{vurdId} karakterskala"
        ) && named(
            "fs",
            "uib",
            "GET /eksamen/{examSystem}/{vurdId} karakterskala"
        ),
        "{differing:?}"
    );
    assert_eq!(differing.len(), 3, "{differing:?}");
    let detail = findings
        .iter()
        .find(|f| f["system"] == "inspera" && f["outcome"] == "differs")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("does not list explanation_given, appeal_decided, thesis_submitted"),
        "{detail}"
    );
}
