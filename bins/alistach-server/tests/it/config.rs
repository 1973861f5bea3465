//! Start-up configuration through the real binary: exit codes, messages, redaction.

use crate::support::run_to_exit;

#[test]
fn invalid_configuration_exits_2_with_one_message_per_mistake() {
    let (code, _out, err) = run_to_exit(
        &[
            ("ALIEXPRESS_CURRENCY", "DOGE"),
            ("CACHE_TTL", "soon"),
            ("MOCK_MODE", "maybe"),
            ("ADMIN_API_KEY", "tiny-secret"),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    for needle in [
        "ALIEXPRESS_CURRENCY",
        "CACHE_TTL",
        "MOCK_MODE",
        "ADMIN_API_KEY",
    ] {
        assert!(err.contains(needle), "no message about {needle}: {err}");
    }
    assert!(!err.contains("tiny-secret"), "secret printed: {err}");
}

#[test]
fn mock_mode_false_without_credentials_refuses_to_start() {
    let (code, _out, err) = run_to_exit(&[("MOCK_MODE", "false")], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("ALIEXPRESS_APP_KEY") && err.contains("ALIEXPRESS_APP_SECRET"),
        "{err}"
    );
}

#[test]
fn check_config_prints_the_effective_configuration_without_secrets() {
    let secret = "super-secret-app-secret-value";
    let admin = "admin-key-0123456789abcdef";
    let (code, out, err) = run_to_exit(
        &[
            ("ALIEXPRESS_APP_KEY", "12345678"),
            ("ALIEXPRESS_APP_SECRET", secret),
            ("ADMIN_API_KEY", admin),
            ("REDIS_URL", "redis://:redispassword@127.0.0.1:1/0"),
        ],
        &["--check-config", "--cache-ttl", "120"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("mode = real"), "{out}");
    assert!(out.contains("cache_ttl_s = 120"), "{out}");
    for s in [secret, admin, "redispassword", "12345678"] {
        assert!(
            !out.contains(s) && !err.contains(s),
            "{s} printed:\n{out}\n{err}"
        );
    }
}

#[test]
fn a_toml_file_is_read_and_flags_override_it() {
    let dir = std::env::temp_dir().join(format!("alistach-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("alistach.toml");
    std::fs::write(
        &path,
        "cache_ttl = 42\ncurrency = \"EUR\"\nlanguage = \"FR\"\n",
    )
    .unwrap();
    let (code, out, err) = run_to_exit(
        &[("ALIEXPRESS_LANGUAGE", "DE")],
        &[
            "--check-config",
            "--config",
            path.to_str().unwrap(),
            "--currency",
            "GBP",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cache_ttl_s = 42"), "{out}");
    assert!(out.contains("currency = GBP"), "flag beats file: {out}");
    assert!(
        out.contains("language = DE"),
        "environment beats file: {out}"
    );
    std::fs::write(&path, "cache_tll = 42\n").unwrap();
    let (code, _out, err) =
        run_to_exit(&[], &["--check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cache_tll"), "unknown key named: {err}");
    let _ = std::fs::remove_dir_all(dir);
}
