//! A real browser for a test: Debian's chromium, headless, driven over WebDriver by its
//! chromedriver (started here on a free port, with a profile of its own), through fantoccini.
//! Screenshots are kept under `target/web-screenshots/` as the tests' artifacts.

use super::free_port;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// Where the page's address starts: `http://127.0.0.1:<port>`.
    pub base: String,
    /// The test's name, the start of its screenshots' names.
    name: String,
}

impl Browser {
    /// A headless chromium on the site at `base`.
    pub async fn start(base: &str, name: &str) -> Browser {
        let port = free_port();
        let profile = tempfile::tempdir().unwrap();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/install-deps.sh: chromium-driver)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1200,1000", "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // chromedriver is on loopback, in plain HTTP
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromium session");
        Browser {
            client,
            driver,
            _profile: profile,
            base: base.to_string(),
            name: name.to_string(),
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The text of the first element `css` matches, waiting up to `timeout` for one (read
    /// again if the page changed under it).
    pub async fn text_of(&self, css: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            match self.wait_for(css, timeout).await.text().await {
                Ok(text) => return text,
                Err(e) if start.elapsed() < timeout => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("reading {css:?}: {e}"),
            }
        }
    }

    /// Clicks `css` (a button that submits a form) and waits until the browser shows the page
    /// the server answered (a new document, not the one clicked in).
    pub async fn submit(&self, css: &str) {
        self.client
            .execute("window.faxhubOldPage = true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        let start = Instant::now();
        loop {
            let old = self
                .client
                .execute("return window.faxhubOldPage === true;", vec![])
                .await;
            if matches!(old, Ok(serde_json::Value::Bool(false))) {
                // and loaded
                let ready = self
                    .client
                    .execute("return document.readyState;", vec![])
                    .await;
                if matches!(ready, Ok(serde_json::Value::String(s)) if s == "complete") {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "clicking {css:?} never brought a new page"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first element `css` matches, waiting up to `timeout` (a panic naming it after).
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(timeout)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                self.screenshot("timed-out").await;
                let page = self.client.source().await.unwrap_or_default();
                panic!("no {css:?} within {timeout:?} ({e}); the page: {page}")
            }
        }
    }

    /// Asserts that the page shown is no wider than the window (nothing to scroll sideways),
    /// naming `what` and the elements that stick out.
    pub async fn assert_fits(&self, what: &str) {
        let fits = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth, \
                 [...document.querySelectorAll('body *')]\
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth)\
                 .map(e => e.tagName + '.' + e.className).slice(0, 5)];",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            fits[0].as_u64() <= fits[1].as_u64(),
            "{what} is wider than the window: {fits}"
        );
    }

    /// How many elements `css` matches now.
    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.unwrap().len()
    }

    /// Types `text` into the field `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css, Duration::from_secs(10)).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css, Duration::from_secs(10))
            .await
            .click()
            .await
            .unwrap();
    }

    /// Signs in on the sign-in page as `login`.
    pub async fn sign_in(&self, login: &str, password: &str) {
        self.goto("/signin").await;
        self.fill("input[name=login]", login).await;
        self.fill("input[name=password]", password).await;
        self.submit("form.signin button").await;
    }

    /// The value of cookie `name` (HttpOnly ones too: WebDriver sees them).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        self.client
            .get_named_cookie(name)
            .await
            .ok()
            .map(|c| c.value().to_string())
    }

    /// Keeps a screenshot of the page as `target/web-screenshots/<test>-<what>.png`.
    pub async fn screenshot(&self, what: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{what}.png", self.name));
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(&path, png).unwrap();
        }
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
