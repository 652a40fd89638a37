using FlyImages.Processes;
using Xunit;

namespace FlyImages.Tests.VmHarness;

/// <summary>
/// The tests/vm scripts run only in CI's last step and inside a VM; a syntax error there would
/// surface late and far from its cause. These checks run on every host.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HarnessScriptTests
{
    private const string Busybox = "/bin/busybox";

    public static TheoryData<string> Scripts => new(Directory.EnumerateFiles(VmFolder())
        .Where(f => f.EndsWith(".sh", StringComparison.Ordinal) || Path.GetFileName(f) is "init" or "launch")
        .Select(Path.GetFileName)
        .Order(StringComparer.Ordinal)!);

    [Theory]
    [MemberData(nameof(Scripts))]
    public async Task ScriptParses(string name)
    {
        var path = Path.Combine(VmFolder(), name);
        var result = await ProcessRunner.RunAsync("bash", ["-n", path], TimeSpan.FromSeconds(30));
        Assert.True(result.Succeeded, $"bash -n {name}: {result.StandardError}");

        // init runs under busybox's ash in the initramfs, which rejects some of what bash accepts;
        // busybox is there once tests/vm/setup.sh has run (always so in CI before the VM step).
        if (name == "init" && File.Exists(Busybox))
        {
            var ash = await ProcessRunner.RunAsync(Busybox, ["sh", "-n", path], TimeSpan.FromSeconds(30));
            Assert.True(ash.Succeeded, $"busybox sh -n {name}: {ash.StandardError}");
        }
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void ScriptIsExecutable(string name)
    {
        if (name == "common.sh")
        {
            return; // sourced, not run
        }

        var mode = File.GetUnixFileMode(Path.Combine(VmFolder(), name));
        Assert.True(mode.HasFlag(UnixFileMode.UserExecute), $"{name} should be executable (git update-index --chmod=+x)");
    }

    [Fact]
    public void EveryEntryPointIsThere()
    {
        foreach (var name in new[] { "setup.sh", "build-initramfs.sh", "init", "launch", "run-vm.sh", "run-dm-tests.sh", "guest-dm-tests.sh", "README.md" })
        {
            Assert.True(File.Exists(Path.Combine(VmFolder(), name)), $"tests/vm/{name} is missing");
        }
    }

    private static string VmFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FlyImages.slnx")))
            {
                return Path.Combine(dir.FullName, "tests", "vm");
            }
        }

        throw new DirectoryNotFoundException("no FlyImages.slnx above " + AppContext.BaseDirectory);
    }
}
