//! `cargo xtask image`: the container image built offline from the local release binary, with
//! podman, on an empty base: the binary, exactly the shared libraries `ldd` names (and the
//! dynamic loader), a non-root user and `/data`. The runtime stage is read from
//! `deploy/Containerfile`, whose build stage runs this command with `--context-only`, so the
//! offline image and the registry build share one runtime stage.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub const USAGE: &str = "  image [--no-build] [--tag NAME]
                     build the container image with podman from the release binary
                     (built first unless --no-build); default tag localhost/alistach:<version>,
                     also tagged :latest; prints the image's size
  image [--no-build] --context-only DIR
                     only assemble the directory the image is built from (rootfs/ and data/)
";

/// Where the binary sits in the image (the Containerfile's ENTRYPOINT and HEALTHCHECK name it).
pub const BINARY_IN_IMAGE: &str = "usr/local/bin/alistach-server";
/// The user the image runs as (the Containerfile's USER and `--chown`, the manifests'
/// `runAsUser`).
pub const UID: u32 = 10001;
/// The line of deploy/Containerfile where the shared runtime stage begins.
const RUNTIME_STAGE: &str = "FROM scratch AS runtime";
/// The image's name, without the tag.
const REPOSITORY: &str = "localhost/alistach";

pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut build = true;
    let mut tag = None;
    let mut context_only = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--no-build" => build = false,
            "--tag" => tag = Some(rest.next().context("--tag needs a name")?.to_string()),
            "--context-only" => {
                context_only = Some(PathBuf::from(
                    rest.next().context("--context-only needs a directory")?,
                ))
            }
            other => bail!("unknown argument {other:?} to image\n{USAGE}"),
        }
    }
    let binary = root.join("target/release/alistach-server");
    if build {
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "--locked", "-p", "alistach-server"])
            .current_dir(root)
            .status()
            .context("running cargo build --release")?;
        if !status.success() {
            bail!("cargo build --release -p alistach-server failed ({status})");
        }
    }
    if !binary.is_file() {
        bail!(
            "{} is missing: run `cargo build --release -p alistach-server` (or drop --no-build)",
            binary.display()
        );
    }
    if let Some(dir) = context_only {
        let libraries = assemble(&binary, &dir)?;
        println!(
            "assembled {} (the binary and {} libraries)",
            dir.display(),
            libraries.len()
        );
        return Ok(());
    }

    let context = root.join("target/image");
    let libraries = assemble(&binary, &context)?;
    let containerfile = fs::read_to_string(root.join("deploy/Containerfile"))
        .context("reading deploy/Containerfile")?;
    fs::write(
        context.join("Containerfile"),
        offline_containerfile(&containerfile)?,
    )
    .context("writing the offline Containerfile")?;

    let version = env!("CARGO_PKG_VERSION");
    let tag = tag.unwrap_or_else(|| format!("{REPOSITORY}:{version}"));
    let mut podman = Command::new("podman");
    podman
        // The docker format keeps HEALTHCHECK (OCI image configs have no field for it).
        .args(["build", "--format", "docker", "--pull=never"])
        .args(["--build-arg", &format!("VERSION={version}")])
        .args([
            "--build-arg",
            &format!("REVISION={}", git(root, &["rev-parse", "HEAD"])),
        ])
        .args(["--build-arg", &format!("SOURCE={}", source(root))])
        .args(["--tag", &tag]);
    if tag == format!("{REPOSITORY}:{version}") {
        podman.args(["--tag", &format!("{REPOSITORY}:latest")]);
    }
    let status = podman
        .arg("--file")
        .arg(context.join("Containerfile"))
        .arg(&context)
        .status()
        .context("running podman build (install it: apt-get install podman)")?;
    if !status.success() {
        bail!("podman build failed ({status})");
    }
    let size = podman_output(&["image", "inspect", "--format", "{{.Size}}", &tag])?;
    let bytes: u64 = size
        .trim()
        .parse()
        .with_context(|| format!("podman reported the size {size:?}"))?;
    println!(
        "built {tag}: {bytes} bytes ({:.1} MiB) uncompressed; the binary and {} shared libraries",
        bytes as f64 / 1024.0 / 1024.0,
        libraries.len()
    );
    Ok(())
}

/// Writes `dir/rootfs` (the binary, its libraries and loader, the user's passwd and group lines,
/// nsswitch.conf) and `dir/data` (the empty state directory), replacing what was there. Returns
/// the libraries copied, as absolute paths on this machine and in the image.
pub fn assemble(binary: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.exists() {
        // Only ever replace what this function wrote: never a directory given by mistake.
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let name = entry?.file_name();
            if !["rootfs", "data", "Containerfile"].contains(&name.to_string_lossy().as_ref()) {
                bail!(
                    "{} holds {name:?}, which an image context never does; give an empty or new directory",
                    dir.display()
                );
            }
        }
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let rootfs = dir.join("rootfs");
    let target = rootfs.join(BINARY_IN_IMAGE);
    fs::create_dir_all(target.parent().unwrap_or(&rootfs))
        .with_context(|| format!("creating {}", rootfs.display()))?;
    copy_executable(binary, &target)?;

    let libraries = shared_libraries(binary)?;
    for library in &libraries {
        let relative = library.strip_prefix("/").unwrap_or(library);
        let to = rootfs.join(relative);
        fs::create_dir_all(to.parent().unwrap_or(&rootfs))
            .with_context(|| format!("creating the directory of {}", to.display()))?;
        // Follows symbolic links: the image holds the file under the name the loader looks for.
        copy_executable(library, &to)?;
    }

    let etc = rootfs.join("etc");
    fs::create_dir_all(&etc).context("creating etc")?;
    fs::write(
        etc.join("passwd"),
        format!(
            "root:x:0:0:root:/root:/sbin/nologin\nalistach:x:{UID}:{UID}:AliStach:/data:/sbin/nologin\n"
        ),
    )?;
    fs::write(etc.join("group"), format!("root:x:0:\nalistach:x:{UID}:\n"))?;
    // glibc resolves names itself (files and dns are built into libc since 2.34); say in which
    // order, as a distribution would: /etc/hosts first, then DNS.
    fs::write(etc.join("nsswitch.conf"), "hosts: files dns\n")?;

    let data = dir.join("data");
    fs::create_dir_all(&data).context("creating data")?;
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
    Ok(libraries)
}

fn copy_executable(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting the mode of {}", to.display()))
}

/// The shared objects `ldd` says `binary` loads, the dynamic loader included; none for a static
/// binary. A library `ldd` cannot find is an error.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd (Debian's libc-bin)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if text.contains("not a dynamic executable") || stderr.contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        bail!("ldd {} failed: {stderr}", binary.display());
    }
    parse_ldd(&text)
}

/// Reads `ldd`'s lines: `name => /path (0x…)`, `/path/ld-linux… (0x…)`, and the vDSO, which has
/// no file.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") {
            continue;
        }
        let path = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    bail!("ldd cannot find {}", name.trim());
                }
                target.split_whitespace().next().unwrap_or("")
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        // The vDSO (`linux-vdso.so.1 (0x…)`, or `=> (0x…)`) lives in the kernel, not in a file.
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

/// The Containerfile `cargo xtask image` builds: its own `context` stage (the directory it
/// assembled) and then deploy/Containerfile's runtime stage, verbatim.
pub fn offline_containerfile(containerfile: &str) -> Result<String> {
    let start = containerfile
        .lines()
        .position(|line| line.trim() == RUNTIME_STAGE)
        .with_context(|| format!("deploy/Containerfile has no `{RUNTIME_STAGE}` line"))?;
    let runtime: Vec<&str> = containerfile.lines().skip(start).collect();
    if let Some(line) = runtime.iter().find(|l| l.contains("--from=build")) {
        bail!("deploy/Containerfile's runtime stage uses the build stage: {line}");
    }
    Ok(format!(
        "# Written by `cargo xtask image`: the assembled directory as the `context` stage, then\n\
         # the runtime stage of deploy/Containerfile, verbatim.\n\
         FROM scratch AS context\n\
         COPY rootfs/ /rootfs/\n\
         COPY data/ /data/\n\n{}\n",
        runtime.join("\n")
    ))
}

fn git(root: &Path, args: &[&str]) -> String {
    Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The repository the image was built from: the `origin` remote's URL when there is one.
fn source(root: &Path) -> String {
    git(root, &["config", "--get", "remote.origin.url"])
}

fn podman_output(args: &[&str]) -> Result<String> {
    let out = Command::new("podman")
        .args(args)
        .output()
        .context("running podman")?;
    if !out.status.success() {
        bail!(
            "podman {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_is_not_an_image_context_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("xtask-context-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        let err = assemble(Path::new("/bin/true"), &dir).unwrap_err();
        assert!(err.to_string().contains("notes.txt"), "{err}");
        assert!(dir.join("notes.txt").is_file());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ldd_lines_name_the_files_to_copy() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f22)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f22)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f22)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
        let missing = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(missing.to_string().contains("libfoo.so.1"), "{missing}");
    }

    #[test]
    fn the_offline_containerfile_is_the_runtime_stage_of_deploy_containerfile() {
        let root = crate::workspace_root();
        let text = fs::read_to_string(root.join("deploy/Containerfile")).unwrap();
        let offline = offline_containerfile(&text).unwrap();
        let runtime = &text[text.find(&format!("\n{RUNTIME_STAGE}\n")).unwrap() + 1..];
        assert!(offline.ends_with(runtime), "{offline}");
        // What the runtime stage says is what the image, the manifests and the tests rely on.
        let needles = [
            format!("--chown={UID}:{UID} /data/ /data/"),
            format!("USER {UID}:{UID}"),
            "VOLUME [\"/data\"]".to_owned(),
            "EXPOSE 8000".to_owned(),
            format!("CMD [\"/{BINARY_IN_IMAGE}\", \"healthcheck\"]"),
            format!("ENTRYPOINT [\"/{BINARY_IN_IMAGE}\"]"),
        ];
        for needle in needles {
            assert!(runtime.contains(&needle), "runtime stage lacks {needle}");
        }
        assert!(offline_containerfile("FROM scratch\n").is_err());
        let leaky = format!("{RUNTIME_STAGE}\nCOPY --from=build /x /x\n");
        assert!(offline_containerfile(&leaky).is_err());
    }
}
