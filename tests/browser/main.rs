//! The web pages in a real browser: Debian's Chromium, driven through chromedriver (WebDriver)
//! against the real server with its own database. Outside CI, without chromedriver, the tests
//! say so and skip; in CI they are required. Screenshots go to `target/screenshots/`.

#[allow(dead_code)]
#[path = "../store/support.rs"]
mod support;

#[allow(dead_code)]
#[path = "../api/harness.rs"]
mod harness;

mod pages;
