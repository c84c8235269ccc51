//! People's accounts on a real database: a sign-in link goes out through the outbox (the file
//! transport writes it), works once and only until it expires, is kept only as its hash; the
//! person's session and tokens act as them (the history names them); disabling the account ends
//! its sessions and tokens.

use accession::app::{Accession, AppError, link_hash};
use accession::clock::{Clock, ManualClock};
use accession::engine::{Act, Actor, Command, Role};
use accession::ids::InstitutionId;
use accession::scheduler::Dispatcher;
use chrono::TimeDelta;

use crate::on_both;
use crate::support::{TestDb, clock, count, pid};

fn inst(id: &str) -> InstitutionId {
    InstitutionId::parse(id).unwrap()
}

fn admin() -> Actor {
    Actor::operator("cli:test")
}

/// Send what the outbox holds, and return the secrets of the sign-in links the file transport
/// wrote (in the order the files sort; each test reads the new ones).
async fn mailed_links(app: &Accession, seen: &mut Vec<String>) -> Vec<String> {
    Dispatcher::from_settings(app)
        .unwrap()
        .dispatch(app, app.now())
        .await
        .unwrap();
    let mut found = Vec::new();
    let dir = &app.settings.mail.outbox_dir;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    let mut names: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names {
        let text = crate::scheduler::decoded_text(&std::fs::read_to_string(&path).unwrap());
        let Some((_, rest)) = text.split_once("/sign-in/link?key=") else {
            continue;
        };
        let secret: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        assert_eq!(secret.len(), 64, "{text}");
        if !seen.contains(&secret) {
            seen.push(secret.clone());
            found.push(secret);
        }
    }
    found
}

async fn a_link_signs_in_once_is_hashed_at_rest_and_expires(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let account = app
        .create_account(
            &admin(),
            "  Aigul Sydykova ",
            "Aigul.Sydykova@MinJust.Example.KG",
            &inst("moj"),
            Role::Ministry,
        )
        .await
        .expect("create an account");
    assert_eq!(account.name, "Aigul Sydykova");
    assert_eq!(account.email, "aigul.sydykova@minjust.example.kg");

    let mut seen = Vec::new();
    // Asked for in another case: the address is the same.
    app.request_sign_in_link("AIGUL.SYDYKOVA@minjust.example.kg")
        .await
        .unwrap();
    let outbox = |kind: &str| format!("SELECT COUNT(*) FROM outbox WHERE kind = '{kind}'");
    assert_eq!(count(&app, &outbox("sign_in_link")).await, 1);
    let links = mailed_links(&app, &mut seen).await;
    assert_eq!(links.len(), 1, "one email with a link");
    let secret = &links[0];

    // At rest: the hash, never the secret, neither in the link's row nor in the outbox.
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM sign_in_links WHERE link_hash = '{}'",
                link_hash(secret)
            )
        )
        .await,
        1
    );
    for table_column in [
        ("sign_in_links", "link_hash"),
        ("outbox", "payload"),
        ("outbox", "last_error"),
        ("api_tokens", "token_hash"),
    ] {
        let (table, column) = table_column;
        assert_eq!(
            count(
                &app,
                &format!("SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%{secret}%'")
            )
            .await,
            0,
            "the secret is in {table}.{column}"
        );
    }

    // The confirmation page asks without spending it.
    assert!(app.sign_in_link_live(secret).await.unwrap());
    assert!(app.sign_in_link_live(secret).await.unwrap());
    let session = app
        .sign_in_with_link(secret)
        .await
        .unwrap()
        .expect("the link signs in");
    let live = app
        .session(&session.cookie)
        .await
        .unwrap()
        .expect("a session");
    assert_eq!(live.actor.name, "Aigul Sydykova");
    assert_eq!(live.actor.account, Some(account.id));
    assert_eq!(live.actor.institution, inst("moj"));
    assert_eq!(live.actor.role, Role::Ministry);
    // Once only.
    assert!(!app.sign_in_link_live(secret).await.unwrap());
    assert!(app.sign_in_with_link(secret).await.unwrap().is_none());

    // A second link expires unused: the clock moves past its lifetime.
    app.request_sign_in_link(&account.email).await.unwrap();
    let second = mailed_links(&app, &mut seen).await;
    assert_eq!(second.len(), 1);
    let lifetime = app.settings.server.sign_in_link_lifetime();
    assert_eq!(lifetime, TimeDelta::minutes(15));
    clock.advance(lifetime + TimeDelta::seconds(1));
    assert!(!app.sign_in_link_live(&second[0]).await.unwrap());
    assert!(app.sign_in_with_link(&second[0]).await.unwrap().is_none());

    // A link queued but expired before the dispatcher came is not sent: cancelled.
    app.request_sign_in_link(&account.email).await.unwrap();
    clock.advance(lifetime + TimeDelta::seconds(1));
    assert!(mailed_links(&app, &mut seen).await.is_empty());
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'sign_in_link' AND status = 'cancelled'"
        )
        .await,
        1
    );

    // Malformed and unknown secrets are refused without error.
    for bad in ["", "x", &"0".repeat(64), &secret.to_uppercase()] {
        assert!(app.sign_in_with_link(bad).await.unwrap().is_none(), "{bad}");
    }
}
on_both!(a_link_signs_in_once_is_hashed_at_rest_and_expires);

async fn asking_for_an_unknown_address_sends_nothing_and_each_address_gets_a_few(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    app.request_sign_in_link("nobody@nowhere.example")
        .await
        .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'sign_in_link'"
        )
        .await,
        0
    );
    assert!(matches!(
        app.request_sign_in_link("not an address").await,
        Err(AppError::InvalidField { field: "email", .. })
    ));
    let account = app
        .create_account(
            &admin(),
            "Bakyt Osmonov",
            "b@mfa.example.kg",
            &inst("mfa"),
            Role::Coordinator,
        )
        .await
        .unwrap();
    for _ in 0..5 {
        app.request_sign_in_link(&account.email).await.unwrap();
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'sign_in_link'"
        )
        .await,
        accession::app::LINKS_PER_LIFETIME as i64
    );
    // A link's lifetime later, one more may go.
    clock.advance(app.settings.server.sign_in_link_lifetime() + TimeDelta::seconds(1));
    app.request_sign_in_link(&account.email).await.unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'sign_in_link'"
        )
        .await,
        accession::app::LINKS_PER_LIFETIME as i64 + 1
    );
}
on_both!(asking_for_an_unknown_address_sends_nothing_and_each_address_gets_a_few);

async fn accounts_are_checked_and_only_admins_manage_them(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let ministry = Actor::new(inst("moj"), Role::Ministry, "clerk");
    assert!(matches!(
        app.create_account(
            &ministry,
            "X",
            "x@moj.example.kg",
            &inst("moj"),
            Role::Ministry
        )
        .await,
        Err(AppError::Refused(_))
    ));
    assert!(matches!(
        app.accounts(&ministry, 0, 10).await,
        Err(AppError::Refused(_))
    ));
    assert!(matches!(
        app.disable_account(&ministry, 1).await,
        Err(AppError::Refused(_))
    ));
    // A coordinator's role only for the coordinating institution.
    assert!(matches!(
        app.create_account(
            &admin(),
            "X",
            "x@moj.example.kg",
            &inst("moj"),
            Role::Coordinator
        )
        .await,
        Err(AppError::InvalidField { field: "role", .. })
    ));
    assert!(matches!(
        app.create_account(
            &admin(),
            "X",
            "x@moj.example.kg",
            &inst("nowhere"),
            Role::Ministry
        )
        .await,
        Err(AppError::InvalidField {
            field: "institution",
            ..
        })
    ));
    app.create_account(
        &admin(),
        "X",
        "x@moj.example.kg",
        &inst("moj"),
        Role::Ministry,
    )
    .await
    .unwrap();
    assert!(matches!(
        app.create_account(
            &admin(),
            "Y",
            "X@moj.example.kg",
            &inst("moj"),
            Role::Ministry
        )
        .await,
        Err(AppError::Conflict(_))
    ));
    for (name, email, field) in [
        ("", "y@moj.example.kg", "name"),
        ("two\nlines", "y@moj.example.kg", "name"),
        ("Y", "y@", "email"),
    ] {
        match app
            .create_account(&admin(), name, email, &inst("moj"), Role::Ministry)
            .await
        {
            Err(AppError::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{name:?} {email:?}: {other:?}"),
        }
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM accounts").await, 1);
    // Paged in SQL.
    for i in 0..4 {
        app.create_account(
            &admin(),
            "P",
            &format!("p{i}@moj.example.kg"),
            &inst("moj"),
            Role::Ministry,
        )
        .await
        .unwrap();
    }
    let page = app.accounts(&admin(), 1, 2).await.unwrap();
    assert_eq!(page.total, 5);
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].email, "p0@moj.example.kg");
}
on_both!(accounts_are_checked_and_only_admins_manage_them);

async fn disabling_an_account_ends_its_sessions_and_tokens(db: &TestDb) {
    let clock = clock();
    let app = db.demo_app(&clock).await;
    let account = app
        .create_account(
            &admin(),
            "Bakyt Osmonov",
            "bakyt@mfa.example.kg",
            &inst("mfa"),
            Role::Coordinator,
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    app.request_sign_in_link(&account.email).await.unwrap();
    let secret = mailed_links(&app, &mut seen).await.remove(0);
    let session = app.sign_in_with_link(&secret).await.unwrap().unwrap();
    let person = app.session(&session.cookie).await.unwrap().unwrap().actor;

    // Their own token, made by themselves, acts as them.
    let token = app
        .create_account_token(&person, account.id, "laptop")
        .await
        .unwrap();
    let (row, actor) = app.authenticate(&token.token).await.unwrap().unwrap();
    assert_eq!(row.account_id, Some(account.id));
    assert_eq!(actor.name, "Bakyt Osmonov");
    assert_eq!(actor.account, Some(account.id));
    // Another's account: only an admin.
    let other = app
        .create_account(
            &admin(),
            "Other",
            "other@moj.example.kg",
            &inst("moj"),
            Role::Ministry,
        )
        .await
        .unwrap();
    assert!(matches!(
        app.create_account_token(&person, other.id, "x").await,
        Err(AppError::Refused(_))
    ));

    // The person acts: the history names them and their account, in hash form 3.
    let id = pid("kg-cets-210");
    let version = app
        .store_for_tests()
        .procedure(&id)
        .await
        .unwrap()
        .unwrap()
        .version;
    app.act(
        &id,
        &Command {
            expected_version: version,
            act: Act::Comment {
                text: "checked by a person".into(),
            },
        },
        &person,
    )
    .await
    .unwrap();
    let history = app.history(&admin(), &id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.actor_name, "Bakyt Osmonov");
    assert_eq!(last.actor_institution, "mfa");
    assert_eq!(last.actor_account, Some(account.id));
    assert_eq!(last.hash_form, accession::audit::FORM_ACCOUNT);
    // Older rows keep their form and no account; the chain holds.
    assert!(history.iter().any(|r| r.actor_account.is_none()));
    let report = app
        .verify_history(&admin(), Some(&id), accession::store::Verdicts::Every)
        .await
        .unwrap();
    assert_eq!(report.checked, 1);
    assert!(
        report.procedures.iter().all(|v| v.broken.is_none()),
        "{report:?}"
    );

    let sessions = app.sessions(&admin(), 0, 50).await.unwrap();
    assert_eq!(sessions.total, 1);
    assert_eq!(sessions.items[0].account_id, Some(account.id));

    clock.advance(TimeDelta::minutes(1));
    let disabled = app.disable_account(&admin(), account.id).await.unwrap();
    assert_eq!(disabled.account.disabled_at, Some(clock.now()));
    assert_eq!(
        disabled.tokens_revoked, 2,
        "their own token and the pages' token"
    );
    assert_eq!(disabled.sessions_ended, 1);
    assert!(app.session(&session.cookie).await.unwrap().is_none());
    assert!(app.authenticate(&token.token).await.unwrap().is_none());
    assert_eq!(app.sessions(&admin(), 0, 50).await.unwrap().total, 0);
    // No link for a disabled account, and no new token.
    let before = count(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE kind = 'sign_in_link'",
    )
    .await;
    app.request_sign_in_link(&account.email).await.unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'sign_in_link'"
        )
        .await,
        before
    );
    assert!(matches!(
        app.create_account_token(&admin(), account.id, "again")
            .await,
        Err(AppError::Conflict(_))
    ));
    // Disabling again keeps the first time.
    clock.advance(TimeDelta::minutes(1));
    let again = app.disable_account(&admin(), account.id).await.unwrap();
    assert_eq!(again.account.disabled_at, disabled.account.disabled_at);
    assert_eq!((again.tokens_revoked, again.sessions_ended), (0, 0));
}
on_both!(disabling_an_account_ends_its_sessions_and_tokens);

async fn an_admin_ends_one_session(db: &TestDb) {
    let clock: ManualClock = clock();
    let app = db.demo_app(&clock).await;
    let account = app
        .create_account(
            &admin(),
            "Chynara",
            "c@mfa.example.kg",
            &inst("mfa"),
            Role::Auditor,
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        app.request_sign_in_link(&account.email).await.unwrap();
    }
    let secrets = mailed_links(&app, &mut seen).await;
    assert_eq!(secrets.len(), 2);
    let a = app.sign_in_with_link(&secrets[0]).await.unwrap().unwrap();
    let b = app.sign_in_with_link(&secrets[1]).await.unwrap().unwrap();
    let listed = app.sessions(&admin(), 0, 50).await.unwrap();
    assert_eq!(listed.total, 2);
    // Newest first: b's.
    let newest = listed.items[0].id;
    app.end_session(&admin(), newest).await.unwrap();
    assert!(app.session(&b.cookie).await.unwrap().is_none());
    assert!(app.session(&a.cookie).await.unwrap().is_some());
    assert!(matches!(
        app.end_session(&admin(), newest).await,
        Err(AppError::NotFound { .. })
    ));
}
on_both!(an_admin_ends_one_session);
