//! The DigEks proxy in the local run: each sandbox institution's exam system gets a client and a
//! key, and calls the API the way an exam system would — lists, exam info, grades, a grade outside
//! the scale, another institution's data — through the local gateway, authorizer and proxy to the
//! sandbox's FS. Prints each call and the day's execution.

use flyt::api_clients::ApiClient;
use flyt::execution::ExecutionStore;
use flyt::institution::ExamSystem;
use serde_json::{json, Value};

use crate::platform::Local;

/// Makes the calls and prints them.
pub async fn exercise(local: &Local) -> Result<(), String> {
    println!();
    println!(
        "DigEks proxy API {} (OpenAPI document at /v1/openapi.json)",
        local.digeks_url()
    );
    println!(
        "{:<10} {:<5} {:<44} {:>6}  result",
        "client", "inst", "call", "status"
    );
    let institutions = local.sandbox.fs.institutions();
    let http = reqwest::Client::new();
    for institution in &institutions {
        let system = ExamSystem::parse(&institution.exam_system)
            .ok_or_else(|| format!("sandbox exam system {}", institution.exam_system))?;
        let client_id = system.as_str().to_ascii_lowercase();
        let nr = &institution.institusjonsnr;
        let key = local
            .digeks_client(&ApiClient {
                client_id: client_id.clone(),
                exam_system: system,
                institutions: [nr.clone()].into(),
                rate_limit_per_minute: 600,
                password_hash: None,
                active: true,
            })
            .await?;
        let exam = local.sandbox.fs.exams(nr)[0].clone();
        let scale = &exam.grade_scale.grades;
        let outside = if scale.iter().any(|g| g == "A") {
            "BESTÅTT"
        } else {
            "A"
        };
        let grades: Vec<Value> = exam
            .candidates
            .iter()
            .take(10)
            .enumerate()
            .map(|(i, c)| json!({"kandidatnr": c.candidate_number, "karakter": scale[i % scale.len()]}))
            .collect();
        let other = institutions
            .iter()
            .find(|i| &i.institusjonsnr != nr)
            .map(|i| i.institusjonsnr.clone())
            .unwrap_or_else(|| "9999".into());
        let id = &exam.assessment_id;
        let calls: Vec<(String, Option<Value>)> = vec![
            (format!("GET /eksamen/liste?institusjonsnr={nr}"), None),
            (format!("GET /eksamen/{system}/{id}"), None),
            (
                format!("POST /eksamen/sensur/{system}/registrer"),
                Some(json!({"vurdId": id, "karakterer": grades})),
            ),
            (
                format!("POST /eksamen/sensur/{system}/valider"),
                Some(
                    json!({"vurdId": id, "karakterer": [{"kandidatnr": exam.candidates[0].candidate_number, "karakter": outside}]}),
                ),
            ),
            (format!("GET /eksamen/liste?institusjonsnr={other}"), None),
        ];
        for (call, body) in calls {
            let (method, path) = call.split_once(' ').expect("method and path");
            let mut request = http
                .request(
                    method.parse().expect("a method"),
                    format!("{}{path}", local.digeks_url()),
                )
                .bearer_auth(&key);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let shown: String = call.chars().take(44).collect();
            println!(
                "{client_id:<10} {nr:<5} {shown:<44} {status:>6}  {}",
                summary(&answer)
            );
        }
    }
    let executions =
        ExecutionStore::new(local.aws.dynamodb.clone(), local.table("ExecutionsTable"));
    if let Some(day) = executions
        .list(digeks_proxy::INTERFACE, 1)
        .await
        .map_err(|e| e.to_string())?
        .first()
    {
        println!(
            "{}: {} calls, {} ok, {} rejected, {} forbidden, {} unauthenticated; FS holds {} grades",
            day.id,
            day.count("calls"),
            day.count("ok"),
            day.count("rejected"),
            day.count("forbidden"),
            day.count("unauthenticated"),
            local.sandbox.fs.registered_grades().len()
        );
    }
    Ok(())
}

/// A short description of an answer: its size, counts, or the error's category and field.
fn summary(answer: &Value) -> String {
    if let Some(category) = answer["category"].as_str() {
        let field = answer["field"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        return format!("{category}{field}");
    }
    if let Some(list) = answer.as_array() {
        return format!("{} items", list.len());
    }
    if let Some(candidates) = answer["kandidater"].as_array() {
        return format!("{} candidates", candidates.len());
    }
    if answer.get("registrert").is_some() {
        return format!("registrert {}", answer["registrert"]);
    }
    answer.to_string().chars().take(60).collect()
}
