//! The chat page's assets: the page links its icon, and both the linked icon and the
//! `/favicon.ico` that browsers ask for without a link are served (no 404 in the console).

mod support;
use support::{Server, http};

#[tokio::test]
async fn the_page_has_an_icon() {
    let server = Server::start(&[]);
    let page = http(server.addr, "GET", "/", None, None).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body
            .contains(r#"<link rel="icon" href="/favicon.svg" type="image/svg+xml">"#),
        "{}",
        page.body
    );
    for path in ["/favicon.svg", "/favicon.ico"] {
        let icon = http(server.addr, "GET", path, None, None).await;
        assert_eq!(icon.status, 200, "{path}: {icon:?}");
        assert_eq!(icon.header("content-type"), Some("image/svg+xml"), "{path}");
        assert!(icon.body.starts_with("<svg "), "{path}: {}", icon.body);
    }
}
