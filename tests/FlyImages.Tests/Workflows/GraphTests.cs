using FlyImages.TestSupport;
using FlyImages.Workflows;
using Xunit;

namespace FlyImages.Tests.Workflows;

public sealed class GraphTests
{
    [Theory]
    [InlineData(WorkflowKinds.InstallImage, "Pending", "Resolving", "Fetching", "Unpacking", "Ready", "Failed", "Rejected")]
    [InlineData(WorkflowKinds.MakeChain, "Pending", "Creating", "Applying", "Sealing", "Sealed", "Faulty")]
    [InlineData(WorkflowKinds.Snapshot, "Pending", "Creating", "Activating", "Active", "Removing", "Removed", "Failed")]
    public void Dot_and_Mermaid_show_every_state(string kind, params string[] states)
    {
        var dot = WorkflowMachines.Registry.Dot(kind);
        var mermaid = WorkflowMachines.Registry.Mermaid(kind);
        Assert.StartsWith("digraph", dot.TrimStart(), StringComparison.Ordinal);
        Assert.Contains("stateDiagram-v2", mermaid, StringComparison.Ordinal);
        foreach (var state in states)
        {
            Assert.Contains(state, dot, StringComparison.Ordinal);
            Assert.Contains(state, mermaid, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_install_graph_has_the_documented_edges()
    {
        var mermaid = WorkflowMachines.Registry.Mermaid(WorkflowKinds.InstallImage);
        Assert.Contains("Pending --> Resolving : Start", mermaid, StringComparison.Ordinal);
        Assert.Contains("Unpacking --> Ready : Unpacked", mermaid, StringComparison.Ordinal);
        Assert.Contains("Rejected --> Resolving : ForceRetry", mermaid, StringComparison.Ordinal);
        Assert.DoesNotContain("Rejected --> Resolving : Retry", mermaid, StringComparison.Ordinal);
        Assert.Equal(mermaid, WorkflowMachines.Registry.Mermaid(WorkflowKinds.InstallImage)); // stable
    }

    /// <summary>
    /// docs/workflows.md is generated: the test compares the code's graphs with the file as it is on disk
    /// (in CI, as committed), read before anything is written. With FLYIMAGES_UPDATE_DOCS=1 it rewrites the
    /// file when it differs, and still fails this run: review the diff, commit it, run again.
    /// </summary>
    [Fact]
    public void Graphs_in_docs_are_current()
    {
        var path = Path.Combine(RepoPaths.Root, "docs", "workflows.md");
        var expected = WorkflowMachines.Markdown();
        var committed = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : null;
        if (committed != expected && Updating)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, expected);
        }

        Assert.True(committed is not null, $"{path} is missing: run this test with FLYIMAGES_UPDATE_DOCS=1 and commit what it writes.");
        Assert.Equal(expected, committed);
    }

    /// <summary>The README's install diagram is the code's (FLYIMAGES_UPDATE_DOCS=1 rewrites it as above).</summary>
    [Fact]
    public void The_README_embeds_the_current_install_graph()
    {
        var path = Path.Combine(RepoPaths.Root, "README.md");
        var readme = File.ReadAllText(path).ReplaceLineEndings("\n");
        var block = "```mermaid\n" + WorkflowMachines.Registry.Mermaid(WorkflowKinds.InstallImage).ReplaceLineEndings("\n").TrimEnd('\n') + "\n```";
        if (!readme.Contains(block, StringComparison.Ordinal) && Updating)
        {
            // the README's one stateDiagram block
            var start = readme.IndexOf("```mermaid\nstateDiagram-v2\n", StringComparison.Ordinal);
            var end = readme.IndexOf("\n```", start + 1, StringComparison.Ordinal) + 4;
            Assert.True(start >= 0 && end > start, "README.md has no mermaid stateDiagram block to rewrite.");
            File.WriteAllText(path, readme[..start] + block + readme[end..]);
        }

        Assert.Contains(block, readme, StringComparison.Ordinal);
    }

    private static bool Updating => Environment.GetEnvironmentVariable("FLYIMAGES_UPDATE_DOCS") == "1";
}
