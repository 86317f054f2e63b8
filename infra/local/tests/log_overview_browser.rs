//! The log overview in a real browser: headless Chromium, driven through chromedriver (WebDriver),
//! against the local platform — the page behind the local API Gateway, the sandbox's identity
//! provider playing Feide, executions written with the real `ExecutionStore` on the emulator.
//!
//! A person of `uio` opens the page, is sent to the IdP, signs in as the sandbox's `uio` test
//! user, and sees `uio`'s executions only (a KO row red, an OK row green), opens the KO one, reads
//! its lines with categories and what to do, and exports it: the downloaded file is an XLSX whose
//! "Log lines" sheet holds exactly those lines. `uib`'s execution is 404 to that session, and a
//! person of an institution that is not connected is refused. A student of `uio`'s realm who is
//! not on `uio`'s list is refused and told whom to ask; a listed colleague gets in, and taken
//! off the list, is out at the next page view after the cache period. A screenshot of the overview is
//! kept as `target/test-artifacts/log-overview.png`.
//!
//! Chromium and chromedriver are Debian's packages (`infra/scripts/setup.sh` installs them); when
//! they are missing the test fails saying so — it never skips.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use calamine::{Data, Reader, Xlsx};
use fantoccini::{Client, ClientBuilder, Locator};
use flyt::execution::{ExecutionStore, Level, LogLine};
use flyt::export::LOG_COLUMNS;
use flyt::time::rfc3339;
use flyt::viewers::Viewers;
use flyt::{Category, Error};
use flyt_local::emulator::project_root;
use flyt_local::{Emulator, Local, LocalOptions};
use flyt_sandbox::SandboxOptions;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver, killed (and reaped) when dropped, also when the test panics.
struct Driver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Driver {
    async fn start(scratch: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = scratch.join("chromedriver.log");
        let file = std::fs::File::create(&log).expect("chromedriver's log file");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let mut driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                return driver;
            }
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited ({status}):\n{}", driver.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {} within {WAIT:?}:\n{}",
                driver.url,
                driver.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails, naming the fix, when the browser or its driver is not installed.
fn require_browser() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).is_file(),
            "{path} is missing (Debian package {package}): run `bash infra/scripts/setup.sh`, \
             which installs chromium and chromium-driver for this test"
        );
    }
}

/// Headless Chromium with a fresh profile, downloads going to `downloads` without asking.
async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1400,900",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "safebrowsing.enabled": false,
            },
        },
    });
    let capabilities = capabilities.as_object().expect("an object").clone();
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "chromedriver could not start Chromium: {e}\n{}",
                driver.log_text()
            )
        })
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    match client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(e) => {
            let url = client.current_url().await.map(|u| u.to_string());
            let source = client.source().await.unwrap_or_default();
            panic!("{css} did not appear ({e}) on {url:?}:\n{source}")
        }
    }
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.expect(css) {
        texts.push(element.text().await.expect("an element's text"));
    }
    texts
}

/// Signs in on the sandbox IdP's form as `user`, starting from the overview.
async fn sign_in(client: &Client, local: &Local, user: &str) {
    client
        .goto(&local.log_overview_url())
        .await
        .expect("the overview opens");
    let button = wait_for(client, &format!("#user-{user}")).await;
    let url = client.current_url().await.expect("a URL").to_string();
    assert!(
        url.starts_with(&format!("{}/authorize?", local.sandbox.idp_url)),
        "the page sends the browser to the IdP: {url}"
    );
    for part in [
        "response_type=code",
        "code_challenge_method=S256",
        "state=",
        "nonce=",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    button.click().await.expect("the test user is chosen");
}

/// One execution as a person would find it: counts, lines, finished.
async fn execution(
    store: &ExecutionStore,
    interface: &str,
    counts: &[(&str, u64)],
    lines: &[LogLine],
) -> String {
    let id = store.start(interface, "schedule").await.expect("started");
    store.record(&id, counts, lines).await.expect("recorded");
    store.finish(&id).await.expect("finished");
    id
}

fn cell(data: &Data) -> String {
    match data {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        other => panic!("unexpected cell {other:?}"),
    }
}

/// The rows of a downloaded XLSX's "Log lines" sheet.
fn log_sheet(bytes: Vec<u8>) -> Vec<Vec<String>> {
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("an XLSX workbook");
    workbook
        .worksheet_range("Log lines")
        .expect("a \"Log lines\" sheet")
        .rows()
        .map(|row| row.iter().map(cell).collect())
        .collect()
}

/// Waits for the one finished download in `dir`.
async fn downloaded(dir: &Path, name: &str) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        let path = dir.join(name);
        let partial = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
            })
            .unwrap_or(false);
        if path.is_file() && !partial {
            return std::fs::read(&path).expect("the downloaded file");
        }
        assert!(
            Instant::now() < deadline,
            "{name} was not downloaded into {} within {WAIT:?}; there: {:?}",
            dir.display(),
            std::fs::read_dir(dir)
                .map(|e| e.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_institution_signs_in_and_sees_only_its_own_executions_lines_and_export() {
    require_browser();
    // The institution and its list are read at most every 2 s, so a removal shows at once.
    let mut function_env = LocalOptions::default().function_env;
    function_env
        .entry("log-overview".to_owned())
        .or_default()
        .insert("INSTITUTION_CACHE_SECONDS".to_owned(), "2".to_owned());
    let local = Local::start(
        Emulator::shared(),
        LocalOptions {
            sandbox: SandboxOptions {
                objects: 10,
                descriptions: 10,
                ..SandboxOptions::default()
            },
            function_env,
            ..LocalOptions::default()
        },
    )
    .await
    .expect("the local platform starts");

    // Executions of two institutions, written as the functions write them.
    let store = ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    let uio_ko = execution(
        &store,
        "fs-poll-uio-klage",
        &[("read", 3), ("queued", 1), ("parked", 2)],
        &[
            LogLine::info("read 3 changes from FS since 2026-11-23T06:00:00"),
            LogLine::error(&Error::external(
                "FS GET /eksamen/klager/INSPERA answered 503 Service Unavailable",
            )),
            LogLine::warning("vurdId 2026-HØST-INF1000-1: <b>slow</b> answer & retried"),
            LogLine::error(&Error::mapping(
                "appeal vurdId 2026-HØST-INF1000-1 kandidatnr 100001: the candidate is not on the test",
            )),
        ],
    )
    .await;
    let uio_ok = execution(
        &store,
        "fs-poll-uio-begrunnelse",
        &[("read", 2), ("queued", 2)],
        &[LogLine::info("read 2 changes from FS")],
    )
    .await;
    let uib_ko = execution(
        &store,
        "wiseflow-poll-uib",
        &[("failed", 1)],
        &[LogLine::error(&Error::configuration(
            "institution uib: exam_system_instance is missing",
        ))],
    )
    .await;
    let lines = store
        .lines(&uio_ko)
        .await
        .expect("the KO execution's lines");
    assert_eq!(lines.len(), 4);

    let scratch =
        std::env::temp_dir().join(format!("flyt-log-overview-browser-{}", std::process::id()));
    let (profile, downloads) = (scratch.join("profile"), scratch.join("downloads"));
    for dir in [&profile, &downloads] {
        std::fs::create_dir_all(dir).expect("a scratch folder");
    }
    let driver = Driver::start(&scratch).await;
    let client = browser(&driver, &profile, &downloads).await;

    // Sign in as uio's test user: back on the overview, signed in.
    sign_in(&client, &local, "sandbox-uio-1").await;
    wait_for(&client, "table.executions").await;
    assert_eq!(
        client.current_url().await.unwrap().as_str(),
        local.log_overview_url()
    );
    assert_eq!(local.sandbox.idp.tokens_issued(), 1);
    let rows = client.find_all(Locator::Css("tr.execution")).await.unwrap();
    assert_eq!(rows.len(), 2, "uio's two executions, not uib's");
    let mut by_id = std::collections::BTreeMap::new();
    for row in &rows {
        let id = row.attr("data-id").await.unwrap().expect("data-id");
        let class = row.attr("class").await.unwrap().unwrap_or_default();
        let background = row.css_value("background-color").await.unwrap();
        by_id.insert(id, (class, background));
    }
    assert_eq!(
        by_id[&uio_ko],
        (
            "execution status-ko".to_owned(),
            "rgba(253, 231, 230, 1)".to_owned()
        ),
        "the KO row is red (the stylesheet applies under the page's CSP)"
    );
    assert_eq!(
        by_id[&uio_ok],
        (
            "execution status-ok".to_owned(),
            "rgba(228, 244, 232, 1)".to_owned()
        ),
        "the OK row is green"
    );
    let source = client.source().await.unwrap();
    assert!(!source.contains(&uib_ko) && !source.contains("wiseflow-poll-uib"));
    assert!(!source.contains("testdrift.uio") && !source.contains("Testbruker"));
    assert_eq!(texts(&client, "#count-ko").await, ["1 KO"]);
    assert_eq!(texts(&client, "#count-errors").await, ["2 error lines"]);

    let artifacts = project_root().join("target").join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("target/test-artifacts");
    let artifacts = artifacts.canonicalize().expect("target/test-artifacts");
    let screenshot = artifacts.join("log-overview.png");
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(&screenshot, png).expect("the screenshot is saved");
    println!("screenshot of the overview: {}", screenshot.display());

    // The session cookie holds the org id, a pseudonym of the person and an expiry.
    let session = client
        .get_named_cookie("__Host-flyt_session")
        .await
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));
    let payload = session.value().split('.').next().unwrap();
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        payload.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["exp", "org", "viewer"]
    );
    assert_eq!(payload["org"], "uio");
    assert_eq!(
        payload["viewer"],
        flyt::scrub::pseudonym("testdrift.uio@uio.no")
    );

    // Another institution's execution is not there for this session: 404, as a missing one.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = format!("__Host-flyt_session={}", session.value());
    for (path, status) in [
        (format!("executions/{uib_ko}"), 404),
        (format!("executions/{uib_ko}/export.xlsx"), 404),
        ("executions/no-such-execution".to_owned(), 404),
        (format!("executions/{uio_ok}"), 200),
    ] {
        let response = http
            .get(format!("{}{path}", local.log_overview_url()))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }

    // Drill down into the KO execution.
    client
        .find(Locator::Css("tr.status-ko a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "table.lines").await;
    assert_eq!(texts(&client, "#status").await, ["KO"]);
    let shown = client.find_all(Locator::Css("tr.line")).await.unwrap();
    assert_eq!(shown.len(), lines.len(), "every line");
    assert_eq!(
        client
            .find_all(Locator::Css("tr.line.level-error"))
            .await
            .unwrap()
            .len(),
        2
    );
    let expected_categories: Vec<String> = lines
        .iter()
        .map(|l| l.category.map(Category::as_str).unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts(&client, "td.category").await, expected_categories);
    let expected_actions: Vec<String> = lines
        .iter()
        .map(|l| l.category.map(Category::action).unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts(&client, "td.action").await, expected_actions);
    let messages = texts(&client, "td.message").await;
    let expected_messages: Vec<String> = lines.iter().map(|l| l.message.clone()).collect();
    assert_eq!(messages, expected_messages, "shown as text, markup escaped");
    std::fs::write(
        artifacts.join("log-overview-execution.png"),
        client.screenshot().await.expect("a screenshot"),
    )
    .expect("the screenshot is saved");

    // Export: the browser downloads an XLSX whose "Log lines" are the lines shown.
    client
        .find(Locator::Id("export"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let bytes = downloaded(&downloads, &format!("{uio_ko}.xlsx")).await;
    let rows = log_sheet(bytes);
    assert_eq!(rows[0], LOG_COLUMNS);
    let expected: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![
                rfc3339(l.at_ms),
                match l.level {
                    Level::Info => "info",
                    Level::Warning => "warning",
                    Level::Error => "error",
                }
                .to_owned(),
                l.category.map(Category::as_str).unwrap_or("").to_owned(),
                l.category.map(Category::action).unwrap_or("").to_owned(),
                l.message.clone(),
            ]
        })
        .collect();
    assert_eq!(rows[1..], expected[..]);

    // Sign out: the next visit goes through the IdP again.
    client
        .find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, ".notice").await;
    assert!(client
        .source()
        .await
        .unwrap()
        .contains("You are signed out"));
    assert!(client
        .get_named_cookie("__Host-flyt_session")
        .await
        .is_err());
    sign_in(&client, &local, "sandbox-hvl-1").await;
    wait_for(&client, ".notice").await;
    let refused = client.source().await.unwrap();
    assert!(
        refused.contains("Your institution (hvl.no) is not connected"),
        "{refused}"
    );
    assert!(client
        .get_named_cookie("__Host-flyt_session")
        .await
        .is_err());

    // A student of uio signs in with uio's realm, but is not on uio's list: refused, told whom
    // to ask, no session.
    sign_in(&client, &local, "sandbox-uio-student").await;
    wait_for(&client, ".notice").await;
    let refused = client.source().await.unwrap();
    assert!(
        refused.contains("you are not on the list of people who may see"),
        "{refused}"
    );
    assert!(
        refused.contains("ask Flyt's operators (flyt viewers add)"),
        "whom to ask: {refused}"
    );
    assert!(!refused.contains("student.uio"), "{refused}");
    assert!(client
        .get_named_cookie("__Host-flyt_session")
        .await
        .is_err());

    // A listed colleague gets in; taken off the list, their session ends at the next page view
    // after the cache period.
    sign_in(&client, &local, "sandbox-uio-2").await;
    wait_for(&client, "table.executions").await;
    Viewers::new(local.aws.dynamodb.clone(), local.table("ConfigTable"))
        .remove("uio", "teststotte.uio@uio.no")
        .await
        .expect("taken off the list");
    tokio::time::sleep(Duration::from_secs(3)).await;
    client.refresh().await.expect("the page reloads");
    wait_for(&client, ".notice").await;
    let ended = client.source().await.unwrap();
    assert!(ended.contains("You are no longer on the list"), "{ended}");
    assert!(client
        .get_named_cookie("__Host-flyt_session")
        .await
        .is_err());
    assert!(client
        .find_all(Locator::Css("tr.execution"))
        .await
        .unwrap()
        .is_empty());

    client.close().await.expect("the browser closes");
    drop(driver);
    let _ = std::fs::remove_dir_all(&scratch);
}
