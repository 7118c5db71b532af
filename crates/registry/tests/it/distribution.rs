//! Against a real distribution registry: push with our client, read back with it (and skopeo).

use crate::content::{self, fetch, push_image};
use crate::harness::{require_binary, Registry, TEST_TIMEOUT};
use registry::{
    media_type, sha256_digest, Client, Credentials, Descriptor, Error, Platform, Reference,
};
use std::future::Future;

fn plat(arch: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: variant.map(Into::into),
    }
}

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test exceeded its time bound");
}

#[tokio::test]
async fn push_then_resolve_and_fetch_roundtrip() {
    bounded(async {
        let reg = Registry::start().await;
        // No insecure list: loopback registries may use HTTP anyway (after HTTPS fails).
        let client = Client::new(vec![]);
        let creds = Credentials::default();
        let r = Reference::parse(&format!("{}/team/app:1", reg.host)).unwrap();
        assert_eq!(r.familiar(), format!("{}/team/app", reg.host));

        let (probe, _) = content::layer(&[("x", b"not pushed")], false);
        assert!(!client
            .blob_exists(&r, &creds, &probe.desc.digest)
            .await
            .unwrap());

        let img = push_image(
            &client,
            &r,
            &creds,
            &Platform::host(),
            b"hello",
            false,
            reg.dir(),
        )
        .await;
        for d in [&img.layer.desc, &img.config.desc] {
            assert!(
                client.blob_exists(&r, &creds, &d.digest).await.unwrap(),
                "{}",
                d.digest
            );
        }

        let got = client.resolve(&r, &creds, &Platform::host()).await.unwrap();
        assert_eq!(got.digest, img.digest);
        assert_eq!(got.raw, img.raw);
        assert_eq!(got.manifest, img.manifest);
        assert_eq!(got.index_digest, None);

        let by_digest = Reference::parse(&format!("{}/team/app@{}", reg.host, img.digest)).unwrap();
        let again = client
            .resolve(&by_digest, &creds, &Platform::host())
            .await
            .unwrap();
        assert_eq!(
            (again.digest, again.raw),
            (img.digest.clone(), img.raw.clone())
        );

        assert_eq!(
            fetch(&client, &r, &creds, &img.layer.desc).await.unwrap(),
            img.layer.data
        );
        assert_eq!(
            fetch(&client, &r, &creds, &img.config.desc).await.unwrap(),
            img.config.data
        );
    })
    .await;
}

#[tokio::test]
async fn skopeo_reads_what_we_pushed() {
    bounded(async {
        let skopeo = require_binary("skopeo", "skopeo");
        let reg = Registry::start().await;
        let client = Client::new(vec![]);
        let creds = Credentials::default();
        let r = Reference::parse(&format!("{}/app:skopeo", reg.host)).unwrap();
        let img = push_image(
            &client,
            &r,
            &creds,
            &plat("amd64", None),
            b"for skopeo",
            false,
            reg.dir(),
        )
        .await;
        let out = tokio::process::Command::new(skopeo)
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/app:skopeo", reg.host))
            .output()
            .await
            .expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.stdout, img.raw,
            "skopeo sees the exact manifest bytes we pushed"
        );
    })
    .await;
}

#[tokio::test]
async fn oci_index_resolves_to_the_platform_asked_for() {
    bounded(async {
        let reg = Registry::start().await;
        let client = Client::new(vec![]);
        let creds = Credentials::default();
        let amd = plat("amd64", None);
        let arm = plat("arm64", Some("v8"));
        let r_amd = Reference::parse(&format!("{}/multi:amd64", reg.host)).unwrap();
        let r_arm = Reference::parse(&format!("{}/multi:arm64", reg.host)).unwrap();
        let a = push_image(
            &client,
            &r_amd,
            &creds,
            &amd,
            b"amd64 bits",
            true,
            reg.dir(),
        )
        .await;
        let b = push_image(
            &client,
            &r_arm,
            &creds,
            &arm,
            b"arm64 bits",
            true,
            reg.dir(),
        )
        .await;

        let entry = |img: &content::Image, p: &Platform| Descriptor {
            media_type: media_type::OCI_MANIFEST.into(),
            digest: img.digest.clone(),
            size: img.raw.len() as u64,
            platform: Some(p.clone()),
            annotations: Default::default(),
        };
        let index = registry::Index {
            media_type: media_type::OCI_INDEX.into(),
            manifests: vec![entry(&a, &amd), entry(&b, &arm)],
        };
        let raw = serde_json::to_vec(&index).unwrap();
        let r = Reference::parse(&format!("{}/multi:latest", reg.host)).unwrap();
        let index_digest = client
            .put_manifest(&r, &creds, media_type::OCI_INDEX, &raw)
            .await
            .unwrap();
        assert_eq!(index_digest, sha256_digest(&raw));

        for (want, img) in [(&amd, &a), (&arm, &b), (&plat("aarch64", None), &b)] {
            let got = client.resolve(&r, &creds, want).await.unwrap();
            assert_eq!(got.digest, img.digest, "{want}");
            assert_eq!(got.raw, img.raw);
            assert_eq!(got.manifest.media_type, media_type::OCI_MANIFEST);
            assert_eq!(got.index_digest.as_deref(), Some(index_digest.as_str()));
            assert_eq!(
                fetch(&client, &r, &creds, &got.manifest.layers[0])
                    .await
                    .unwrap(),
                img.layer.data
            );
        }

        let by_digest = Reference::parse(&format!("{}/multi@{index_digest}", reg.host)).unwrap();
        let got = client.resolve(&by_digest, &creds, &arm).await.unwrap();
        assert_eq!(
            (got.digest, got.index_digest),
            (b.digest.clone(), Some(index_digest))
        );

        let err = client
            .resolve(&r, &creds, &plat("s390x", None))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
    })
    .await;
}

#[tokio::test]
async fn missing_and_wrong_content_fail() {
    bounded(async {
        let reg = Registry::start().await;
        let client = Client::new(vec![]);
        let creds = Credentials::default();
        let r = Reference::parse(&format!("{}/app:1", reg.host)).unwrap();
        let img = push_image(
            &client,
            &r,
            &creds,
            &plat("amd64", None),
            b"x",
            false,
            reg.dir(),
        )
        .await;

        let nope = Reference::parse(&format!("{}/app:nope", reg.host)).unwrap();
        let err = client
            .resolve(&nope, &creds, &Platform::host())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ManifestUnknown { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "manifest for {}/app:nope not found: manifest unknown: manifest unknown",
                reg.host
            )
        );

        // A digest the registry does not have.
        let (other, _) = content::layer(&[("y", b"never pushed")], false);
        let err = fetch(&client, &r, &creds, &other.desc).await.unwrap_err();
        assert!(
            matches!(err, Error::Registry { status: 404, .. }),
            "{err:?}"
        );

        // The right blob under a descriptor that lies about its size.
        let mut short = img.layer.desc.clone();
        short.size -= 1;
        let err = fetch(&client, &r, &creds, &short).await.unwrap_err();
        assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");

        // A descriptor pairing one blob's digest with another's size. (A server that sends
        // wrong bytes for a digest is in fake_auth.rs: this registry never does.)
        let wrong = Descriptor {
            digest: img.config.desc.digest.clone(),
            ..img.layer.desc.clone()
        };
        let err = fetch(&client, &r, &creds, &wrong).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::SizeMismatch { .. } | Error::DigestMismatch { .. }
            ),
            "{err:?}"
        );

        // Pushing a file under a digest it does not have is refused by the registry.
        let path = reg.dir().join("liar");
        std::fs::write(&path, b"not what the digest says").unwrap();
        let err = client
            .push_blob(&r, &creds, &other.desc.digest, &path, &mut |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Registry { status: 400, .. }),
            "{err:?}"
        );
        assert!(!client
            .blob_exists(&r, &creds, &other.desc.digest)
            .await
            .unwrap());
    })
    .await;
}
