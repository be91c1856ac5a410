//! A first end-to-end pass: create, append, query, read back.

mod common;

use common::{TestServer, create_log, event};
use stele_proto::v1;

#[tokio::test]
async fn append_then_query_and_read_back() {
    let mut server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let mut client = server.client(None).await;
    let receipts = client
        .append(v1::AppendRequest {
            log: "audit".into(),
            events: vec![
                event("workflow.delete", "alice", "alice deleted workflow 42"),
                event("git.push", "bob", "bob pushed to main"),
            ],
            batch_id: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(receipts.batch_id, 7);
    assert_eq!(
        receipts.receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [0, 1]
    );
    let record = client
        .get_record(v1::GetRecordRequest {
            log: "audit".into(),
            seq: 0,
            include_body: true,
        })
        .await
        .unwrap()
        .into_inner();
    let event = record.record.unwrap().event.unwrap();
    assert_eq!(event.action, "workflow.delete");
    server.stop().await;
}
