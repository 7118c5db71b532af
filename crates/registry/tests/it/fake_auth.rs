//! Against hand-written fakes: a token server and a registry that demands `Bearer x` (or basic
//! auth), redirects blobs to another host, or lies about blob content.

use crate::content::{self, fetch, Blob};
use crate::fake::{Req, Resp, Server};
use crate::harness::TEST_TIMEOUT;
use registry::{media_type, Client, Credentials, Error, Manifest, Platform, Reference};
use std::future::Future;
use std::sync::Arc;

const BASIC_U_P: &str = "Basic dTpw"; // u:p

struct Fixture {
    layer: Blob,
    raw: Vec<u8>,
    manifest: Manifest,
}

fn fixture() -> Arc<Fixture> {
    let (layer, diff_id) = content::layer(&[("f", b"fake registry layer")], false);
    let config = content::config(&diff_id, &Platform::host(), false);
    let manifest = Manifest {
        media_type: media_type::DOCKER_MANIFEST.into(),
        config: config.desc.clone(),
        layers: vec![layer.desc.clone()],
    };
    let raw = serde_json::to_vec(&manifest).unwrap();
    Arc::new(Fixture {
        layer,
        raw,
        manifest,
    })
}

#[derive(Clone)]
enum Gate {
    Bearer { realm: String },
    Basic,
}

#[derive(Clone)]
struct Opts {
    gate: Gate,
    /// Answer `GET /v2/` without auth, so the first challenge comes on a real request.
    open_ping: bool,
    blob_redirect: Option<String>,
    corrupt_blob: bool,
}

fn registry(fx: Arc<Fixture>, o: Opts) -> impl Fn(&Req) -> Resp + Send + Sync + 'static {
    move |req| {
        if o.open_ping && req.path() == "/v2/" {
            return Resp::new(200).body("{}");
        }
        let (want, challenge) = match &o.gate {
            Gate::Bearer { realm } => (
                "Bearer x",
                format!(
                    r#"Bearer realm="{realm}",service="fake-registry",scope="repository:app:pull""#
                ),
            ),
            Gate::Basic => (BASIC_U_P, r#"Basic realm="fake""#.to_string()),
        };
        if req.header("authorization") != Some(want) {
            return Resp::new(401)
                .header("WWW-Authenticate", challenge)
                .header("Content-Type", "application/json")
                .body(
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
        }
        let blob = format!("/v2/app/blobs/{}", fx.layer.desc.digest);
        match req.path() {
            "/v2/" => Resp::new(200).body("{}"),
            "/v2/app/blobs/uploads/" if req.method == "POST" && req.target.contains("mount=") => {
                Resp::new(201)
            }
            "/v2/app/manifests/latest" => Resp::new(200)
                .header("Content-Type", media_type::DOCKER_MANIFEST)
                .body(fx.raw.clone()),
            p if p == blob => match (&o.blob_redirect, o.corrupt_blob) {
                (Some(to), _) => Resp::new(307).header("Location", to.clone()),
                (None, true) => {
                    let mut bad = fx.layer.data.clone();
                    let last = bad.len() - 1;
                    bad[last] ^= 0xff;
                    Resp::new(200).body(bad)
                }
                (None, false) => Resp::new(200).body(fx.layer.data.clone()),
            },
            _ => Resp::new(404),
        }
    }
}

/// `/token` answers `{"token":"x"}`, `/oauth` answers `{"access_token":"x"}` (plus
/// `"refresh_token":"rt"` when asked `offline_token=true`); a request with basic auth other
/// than u:p is refused.
fn token_server(req: &Req) -> Resp {
    if req.method == "POST" && !String::from_utf8_lossy(&req.body).contains("refresh_token=rt") {
        return Resp::new(401);
    }
    match req.header("authorization") {
        Some(a) if a != BASIC_U_P => return Resp::new(401).body(r#"{"details":"incorrect"}"#),
        _ => {}
    }
    let field = if req.path() == "/oauth" {
        "access_token"
    } else {
        "token"
    };
    // A login asks for a refresh token too.
    let refresh = match req.target.contains("offline_token=true") {
        true => r#","refresh_token":"rt""#,
        false => "",
    };
    Resp::new(200)
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"{field}":"x","expires_in":300{refresh}}}"#))
}

fn u_p() -> Credentials {
    Credentials {
        username: "u".into(),
        password: "p".into(),
        ..Default::default()
    }
}

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test exceeded its time bound");
}

async fn start(realm_path: &str, mut o: Opts) -> (Server, Server, Reference, Arc<Fixture>) {
    let (tl, taddr) = Server::bind("127.0.0.1").await;
    let tokens = Server::serve(tl, token_server);
    if let Gate::Bearer { realm } = &mut o.gate {
        *realm = format!("http://{taddr}{realm_path}");
    }
    let fx = fixture();
    let (rl, raddr) = Server::bind("127.0.0.1").await;
    let reg = Server::serve(rl, registry(fx.clone(), o));
    let r = Reference::parse(&format!("{raddr}/app")).unwrap();
    (reg, tokens, r, fx)
}

fn bearer() -> Gate {
    Gate::Bearer {
        realm: String::new(),
    }
}

fn opts(gate: Gate) -> Opts {
    Opts {
        gate,
        open_ping: false,
        blob_redirect: None,
        corrupt_blob: false,
    }
}

#[tokio::test]
async fn a_401_is_answered_with_a_token_then_retried() {
    bounded(async {
        let (reg, tokens, r, fx) = start(
            "/token",
            Opts {
                open_ping: true,
                ..opts(bearer())
            },
        )
        .await;
        let client = Client::new(vec![]);

        let got = client.resolve(&r, &u_p(), &Platform::host()).await.unwrap();
        assert_eq!(got.manifest, fx.manifest);
        let seen: Vec<(String, Option<String>)> = reg
            .requests()
            .iter()
            .map(|q| {
                (
                    q.path().to_string(),
                    q.header("authorization").map(str::to_string),
                )
            })
            .collect();
        let manifests = "/v2/app/manifests/latest".to_string();
        assert_eq!(
            seen,
            vec![
                ("/v2/".to_string(), None),
                (manifests.clone(), None),
                (manifests, Some("Bearer x".to_string())),
            ]
        );
        let t = tokens.requests();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].header("authorization"), Some(BASIC_U_P));
        assert!(
            t[0].target.contains("service=fake-registry"),
            "{}",
            t[0].target
        );
        assert!(
            t[0].target.contains("scope=repository%3Aapp%3Apull"),
            "{}",
            t[0].target
        );
        assert!(t[0].target.contains("account=u"), "{}", t[0].target);

        // The token is cached for these credentials and this scope.
        assert_eq!(
            fetch(&client, &r, &u_p(), &fx.layer.desc).await.unwrap(),
            fx.layer.data
        );
        assert_eq!(tokens.requests().len(), 1);

        // Another caller (anonymous) never gets u's token: it asks for its own, without basic auth.
        client
            .resolve(&r, &Credentials::default(), &Platform::host())
            .await
            .unwrap();
        let t = tokens.requests();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].header("authorization"), None);

        // Wrong credentials are refused by the token server.
        let wrong = Credentials {
            password: "nope".into(),
            ..u_p()
        };
        let err = client
            .resolve(&r, &wrong, &Platform::host())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "unauthorized: incorrect username or password"
        );
    })
    .await;
}

#[tokio::test]
async fn the_ping_challenge_gets_a_token_up_front_and_access_token_is_accepted() {
    bounded(async {
        let (reg, tokens, r, fx) = start("/oauth", opts(bearer())).await;
        let client = Client::new(vec![]);
        let got = client
            .resolve(&r, &Credentials::default(), &Platform::host())
            .await
            .unwrap();
        assert_eq!(got.raw, fx.raw);
        let paths: Vec<String> = reg
            .requests()
            .iter()
            .map(|q| q.path().to_string())
            .collect();
        assert_eq!(
            paths,
            ["/v2/", "/v2/app/manifests/latest"],
            "no 401 round trip after the ping"
        );
        assert_eq!(tokens.requests().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn identity_and_registry_tokens() {
    bounded(async {
        let (reg, tokens, r, fx) = start("/oauth", opts(bearer())).await;
        let client = Client::new(vec![]);
        // `docker login` with an identity token: exchanged with the OAuth2 refresh_token grant.
        let refresh = Credentials {
            identity_token: "rt&=".into(),
            ..Default::default()
        };
        let got = client
            .resolve(&r, &refresh, &Platform::host())
            .await
            .unwrap();
        assert_eq!(got.raw, fx.raw);
        let t = tokens.requests();
        assert_eq!(
            (t.len(), t[0].method.as_str(), t[0].path()),
            (1, "POST", "/oauth")
        );
        let form = String::from_utf8(t[0].body.clone()).unwrap();
        for part in [
            "grant_type=refresh_token",
            "refresh_token=rt%26%3D",
            "service=fake-registry",
            "scope=repository%3Aapp%3Apull",
        ] {
            assert!(form.split('&').any(|p| p == part), "{part} in {form}");
        }
        // A registry token goes to the registry as is; the token server is not asked.
        let direct = Credentials {
            registry_token: "x".into(),
            ..Default::default()
        };
        assert_eq!(
            fetch(&client, &r, &direct, &fx.layer.desc).await.unwrap(),
            fx.layer.data
        );
        assert_eq!(tokens.requests().len(), 1);
        let last = reg.requests().pop().unwrap();
        assert_eq!(last.header("authorization"), Some("Bearer x"));
    })
    .await;
}

#[tokio::test]
async fn basic_challenges_get_basic_auth() {
    bounded(async {
        let (_reg, _tokens, r, fx) = start("", opts(Gate::Basic)).await;
        let client = Client::new(vec![]);
        let got = client.resolve(&r, &u_p(), &Platform::host()).await.unwrap();
        assert_eq!(got.raw, fx.raw);
        let err = client.resolve(&r, &Credentials::default(), &Platform::host()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "pull access denied for {}, repository does not exist or may require 'docker login': \
                 unauthorized: authentication required",
                r.familiar()
            )
        );
    })
    .await;
}

#[tokio::test]
async fn blob_redirects_to_another_host_lose_the_authorization_header() {
    bounded(async {
        let fx = fixture();
        let (sl, saddr) = Server::bind("127.0.0.2").await;
        let data = fx.layer.data.clone();
        let store = Server::serve(sl, move |_| Resp::new(200).body(data.clone()));
        let to = format!("http://{saddr}/bucket/blob?X-Amz-Signature=abc");
        let (reg, _tokens, r, fx) = start(
            "/token",
            Opts {
                blob_redirect: Some(to),
                ..opts(bearer())
            },
        )
        .await;
        let client = Client::new(vec![]);
        assert_eq!(
            fetch(&client, &r, &u_p(), &fx.layer.desc).await.unwrap(),
            fx.layer.data
        );
        let blob_req = reg
            .requests()
            .into_iter()
            .find(|q| q.path().contains("/blobs/"))
            .unwrap();
        assert_eq!(blob_req.header("authorization"), Some("Bearer x"));
        let s = store.requests();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].target, "/bucket/blob?X-Amz-Signature=abc");
        assert_eq!(
            s[0].header("authorization"),
            None,
            "credentials must not follow the redirect"
        );
    })
    .await;
}

#[tokio::test]
async fn a_lying_server_is_caught_by_the_digest_check() {
    bounded(async {
        let (_reg, _tokens, r, fx) = start(
            "/token",
            Opts {
                corrupt_blob: true,
                ..opts(bearer())
            },
        )
        .await;
        let client = Client::new(vec![]);
        let mut out = Vec::new();
        let err = client
            .fetch_blob(&r, &u_p(), &fx.layer.desc, &mut out, &mut |_| {})
            .await
            .unwrap_err();
        match err {
            Error::DigestMismatch { expected, actual } => {
                assert_eq!(expected, fx.layer.desc.digest);
                assert_ne!(actual, expected);
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
    })
    .await;
}

/// A cross-repository mount asks for a token that can also read the source repository, as
/// Docker does (`scope=repository:app:pull,push&scope=repository:lib/base:pull`).
#[tokio::test]
async fn a_mount_asks_for_the_source_repository_too() {
    bounded(async {
        let (reg, tokens, r, fx) = start("/token", opts(bearer())).await;
        let client = Client::new(vec![]);
        let mounted = client
            .mount_blob(&r, &u_p(), &fx.layer.desc.digest, "lib/base")
            .await
            .unwrap();
        assert!(mounted);
        let mount = reg
            .requests()
            .into_iter()
            .rfind(|q| q.method == "POST")
            .expect("a mount request");
        assert_eq!(mount.header("authorization"), Some("Bearer x"));
        assert!(mount.target.contains("from=lib%2Fbase"), "{}", mount.target);
        let t = tokens.requests();
        assert_eq!(t.len(), 1, "{t:?}");
        let scopes: Vec<&str> = t[0]
            .target
            .split(['?', '&'])
            .filter(|p| p.starts_with("scope="))
            .collect();
        assert_eq!(
            scopes,
            [
                "scope=repository%3Aapp%3Apull%2Cpush",
                "scope=repository%3Alib%2Fbase%3Apull"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn login_answers_the_challenge_and_returns_the_refresh_token() {
    bounded(async {
        let wrong = Credentials {
            password: "bad".into(),
            ..u_p()
        };
        let client = Client::new(vec![]);

        let (reg, tokens, r, _) = start("/token", opts(bearer())).await;
        let identity = client.login(&r.registry, &u_p()).await.unwrap();
        assert_eq!(identity.as_deref(), Some("rt"));
        let t = tokens.requests();
        assert_eq!(t.len(), 1);
        let target = &t[0].target;
        for part in ["offline_token=true", "account=u", "service=fake-registry"] {
            assert!(target.contains(part), "{target}");
        }
        assert!(
            !target.contains("scope="),
            "a login asks for no scope: {target}"
        );
        let last = reg.requests().last().cloned().expect("requests");
        assert_eq!(
            (last.path(), last.header("authorization")),
            ("/v2/", Some("Bearer x"))
        );
        let refused = client.login(&r.registry, &wrong).await;
        assert!(
            matches!(refused, Err(Error::Unauthorized { .. })),
            "{refused:?}"
        );

        let (_reg, _tokens, r, _) = start("/token", opts(Gate::Basic)).await;
        assert_eq!(client.login(&r.registry, &u_p()).await.unwrap(), None);
        match client.login(&r.registry, &wrong).await {
            Err(Error::LoginFailed { url, status }) => {
                assert_eq!(url, format!("http://{}/v2/", r.registry));
                assert_eq!(status, "401 Unauthorized");
            }
            other => panic!("expected a refused login, got {other:?}"),
        }
    })
    .await
}
