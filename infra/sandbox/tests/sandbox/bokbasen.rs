//! The Bokbasen export API: tokens, paging, validation and content faults.

use flyt_sandbox::{Report, Sandbox, SandboxOptions};

use super::{days_ago, elements, small_sandbox, token};

struct Page {
    status: u16,
    next: Option<String>,
    link: Option<String>,
    body: String,
}

async fn get_page(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    token: &str,
    report: &str,
    query: &[(&str, &str)],
) -> Page {
    let response = client
        .get(format!(
            "{}/metadata/export/{report}/v1",
            sandbox.bokbasen_url
        ))
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .expect("export request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    };
    let (next, link) = (header("next"), header("link"));
    let status = response.status().as_u16();
    Page {
        status,
        next,
        link,
        body: response.text().await.expect("body"),
    }
}

#[tokio::test]
async fn token_flow_and_bearer_auth() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let url = format!("{}/oauth/token", sandbox.bokbasen_url);
    let form = |secret: &'static str, audience: &'static str| {
        [
            ("client_id", "flyt-local"),
            ("client_secret", secret),
            ("audience", audience),
            ("grant_type", "client_credentials"),
        ]
    };
    let audience = "https://api.bokbasen.io/metadata/";
    let wrong_secret = client
        .post(&url)
        .form(&form("nope", audience))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    let body: serde_json::Value = wrong_secret.json().await.unwrap();
    assert_eq!(body["error"], "access_denied");
    let wrong_audience = client
        .post(&url)
        .form(&form("local-secret", "https://example.org/"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_audience.status(), 403);
    let by_form: serde_json::Value = client
        .post(&url)
        .form(&form("local-secret", audience))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_form["token_type"], "Bearer");
    assert_eq!(by_form["expires_in"], 3600);
    let by_json = token(&client, &sandbox).await;
    assert_ne!(by_form["access_token"].as_str(), Some(by_json.as_str()));
    assert_eq!(sandbox.bokbasen.token_requests(), 4);

    let after = days_ago(1);
    let query = [("after", after.as_str())];
    let unknown = get_page(&client, &sandbox, "not-a-token", "object", &query).await;
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("<errors>"));
    let missing = client
        .get(format!(
            "{}/metadata/export/object/v1",
            sandbox.bokbasen_url
        ))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let ok = get_page(&client, &sandbox, &by_json, "object", &query).await;
    assert_eq!(ok.status, 200);
    assert_eq!(sandbox.bokbasen.token_requests(), 4);
}

#[tokio::test]
async fn draining_with_next_returns_every_change_once_and_resumes() {
    let sandbox = Sandbox::start(SandboxOptions {
        objects: 1200,
        descriptions: 10,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;

    let after = days_ago(3);
    let mut page = get_page(
        &client,
        &sandbox,
        &token,
        "object",
        &[("after", &after), ("pagesize", "500")],
    )
    .await;
    let mut references = Vec::new();
    let mut pages = 0;
    let cursor = loop {
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.ends_with("</OBJECTS>"));
        let next = page.next.clone().expect("Next header");
        let link = page.link.clone().expect("Link header");
        assert!(link.contains(&format!("next={next}")) && link.ends_with("rel=\"next\""));
        let found = elements(&page.body, "REFERENCE");
        if !found.is_empty() {
            pages += 1;
        }
        references.extend(found);
        let following = get_page(
            &client,
            &sandbox,
            &token,
            "object",
            &[("next", &next), ("pagesize", "500")],
        )
        .await;
        if following.next.as_deref() == Some(next.as_str()) {
            assert!(elements(&following.body, "OBJECT").is_empty());
            break next;
        }
        page = following;
    };
    assert!(pages >= 3, "{pages} pages");
    let expected: Vec<String> = sandbox
        .bokbasen
        .items(Report::Objects)
        .into_iter()
        .map(|item| item.reference)
        .collect();
    assert_eq!(references, expected);

    let item = &sandbox.bokbasen.items(Report::Objects)[0];
    let reference = sandbox
        .bokbasen
        .append_change(Report::Objects, &item.isbn13, &item.type_code);
    let resumed = get_page(&client, &sandbox, &token, "object", &[("next", &cursor)]).await;
    assert_eq!(elements(&resumed.body, "REFERENCE"), vec![reference]);
    assert_eq!(elements(&resumed.body, "ISBN13"), vec![item.isbn13.clone()]);
    let next = resumed.next.expect("Next");
    assert_ne!(next, cursor);
    let drained = get_page(&client, &sandbox, &token, "object", &[("next", &next)]).await;
    assert_eq!(drained.next.as_deref(), Some(next.as_str()));
}

#[tokio::test]
async fn an_empty_after_page_gives_a_stable_cursor() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y%m%d%H%M%S")
        .to_string();
    let empty = get_page(
        &client,
        &sandbox,
        &token,
        "description",
        &[("after", &soon)],
    )
    .await;
    assert_eq!(empty.status, 200);
    assert!(elements(&empty.body, "DESCRIPTION").is_empty());
    let cursor = empty.next.expect("Next");
    let again = get_page(
        &client,
        &sandbox,
        &token,
        "description",
        &[("next", &cursor)],
    )
    .await;
    assert!(elements(&again.body, "DESCRIPTION").is_empty());
    assert_eq!(again.next, Some(cursor));
}

/// Report, query, and the parameter the error message must name.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

#[tokio::test]
async fn invalid_paging_parameters_are_rejected_with_xml_errors() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let old = days_ago(181);
    let old_cursor = format!("{old}000000001");
    let recent = days_ago(1);
    let cases: [Case; 8] = [
        ("object", vec![("after", &old)], "after"),
        ("object", vec![("next", &old_cursor)], "next"),
        (
            "object",
            vec![("after", &recent), ("pagesize", "5001")],
            "pagesize",
        ),
        (
            "description",
            vec![("after", &recent), ("pagesize", "1001")],
            "pagesize",
        ),
        (
            "object",
            vec![("after", &recent), ("pagesize", "0")],
            "pagesize",
        ),
        ("object", vec![], "after"),
        (
            "object",
            vec![("after", &recent), ("next", &old_cursor)],
            "after",
        ),
        ("object", vec![("after", "2026-01-01")], "after"),
    ];
    for (report, query, parameter) in cases {
        let page = get_page(&client, &sandbox, &token, report, &query).await;
        assert_eq!(page.status, 400, "{query:?}");
        assert!(page
            .body
            .contains("<errors><error><code>400</code><message>"));
        assert!(
            elements(&page.body, "message")[0].contains(parameter),
            "{}",
            page.body
        );
    }
    // The contract sees the values it declares out of range; too old a time and a missing or
    // doubled start are the sandbox's own rules.
    super::expect_violations(
        &sandbox,
        &[
            "'pagesize': at '': 5001 is greater than the maximum of 5000",
            "'pagesize': at '': 1001 is greater than the maximum of 1000",
            "'pagesize': at '': 0 is less than the minimum of 1",
            "'after': at '': \"2026-01-01\" does not match",
        ],
    );
    let allowed = get_page(
        &client,
        &sandbox,
        &token,
        "description",
        &[("after", &recent), ("pagesize", "1000")],
    )
    .await;
    assert_eq!(allowed.status, 200);
}

#[tokio::test]
async fn descriptions_can_be_malformed_or_mismatched() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let items = sandbox.bokbasen.items(Report::Descriptions);
    let ids = sandbox.bokbasen.description_ids();
    assert_eq!(ids.len(), items.len());
    let fetch = |reference: String| {
        let client = client.clone();
        let token = token.clone();
        async move {
            let response = client
                .get(reference)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    let (status, body) = fetch(items[0].reference.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(elements(&body, "ISBN13"), vec![items[0].isbn13.clone()]);
    assert_eq!(elements(&body, "TYPE"), vec![items[0].type_code.clone()]);
    assert!(elements(&body, "TEXT")[0].contains("&amp;"));
    assert!(body.ends_with("</DESCRIPTION>"));

    sandbox
        .bokbasen
        .set_malformed_descriptions(vec![ids[0].clone()]);
    sandbox
        .bokbasen
        .set_mismatched_descriptions(vec![items[1].reference.clone()]);
    let (_, malformed) = fetch(items[0].reference.clone()).await;
    assert!(!malformed.ends_with("</DESCRIPTION>"));
    let (_, mismatched) = fetch(items[1].reference.clone()).await;
    let isbn = &elements(&mismatched, "ISBN13")[0];
    assert_ne!(isbn, &items[1].isbn13);
    assert!(isbn.starts_with("97882") && isbn.len() == 13);

    sandbox.bokbasen.set_malformed_descriptions(Vec::new());
    sandbox.bokbasen.set_mismatched_descriptions(Vec::new());
    assert_eq!(fetch(items[0].reference.clone()).await.1, body);
    let (_, restored) = fetch(items[1].reference.clone()).await;
    assert_eq!(elements(&restored, "ISBN13"), vec![items[1].isbn13.clone()]);

    let missing = format!("{}/metadata/description/d9999999", sandbox.bokbasen_url);
    assert_eq!(fetch(missing).await.0, 404);
}

#[tokio::test]
async fn malformed_pages_are_truncated_then_recover() {
    let sandbox = small_sandbox().await;
    let client = reqwest::Client::new();
    let token = token(&client, &sandbox).await;
    let after = days_ago(3);
    sandbox.bokbasen.set_malformed_pages(1);
    let broken = get_page(&client, &sandbox, &token, "object", &[("after", &after)]).await;
    assert_eq!(broken.status, 200);
    assert!(!broken.body.ends_with("</OBJECTS>"));
    let good = get_page(&client, &sandbox, &token, "object", &[("after", &after)]).await;
    assert!(good.body.ends_with("</OBJECTS>"));
    assert_eq!(elements(&good.body, "OBJECT").len(), 50);
    assert_eq!(broken.next, good.next);
}
