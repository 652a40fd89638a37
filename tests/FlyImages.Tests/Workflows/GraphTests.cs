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
        var dot = WorkflowMachines.Dot(kind);
        var mermaid = WorkflowMachines.Mermaid(kind);
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
        var mermaid = WorkflowMachines.Mermaid(WorkflowKinds.InstallImage);
        Assert.Contains("Pending --> Resolving : Start", mermaid, StringComparison.Ordinal);
        Assert.Contains("Unpacking --> Ready : Unpacked", mermaid, StringComparison.Ordinal);
        Assert.Contains("Rejected --> Resolving : ForceRetry", mermaid, StringComparison.Ordinal);
        Assert.DoesNotContain("Rejected --> Resolving : Retry", mermaid, StringComparison.Ordinal);
        Assert.Equal(mermaid, WorkflowMachines.Mermaid(WorkflowKinds.InstallImage)); // stable
    }

    /// <summary>docs/workflows.md is generated; set FLYIMAGES_UPDATE_DOCS=1 to rewrite it after changing a graph.</summary>
    [Fact]
    public void Graphs_in_docs_are_current()
    {
        var path = Path.Combine(RepoPaths.Root, "docs", "workflows.md");
        var expected = WorkflowMachines.Markdown();
        if (Environment.GetEnvironmentVariable("FLYIMAGES_UPDATE_DOCS") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, expected);
        }

        Assert.True(File.Exists(path), $"{path} is missing: run the tests with FLYIMAGES_UPDATE_DOCS=1.");
        Assert.Equal(expected, File.ReadAllText(path).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void The_README_embeds_the_current_install_graph()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")).ReplaceLineEndings("\n");
        var block = "```mermaid\n" + WorkflowMachines.Mermaid(WorkflowKinds.InstallImage).ReplaceLineEndings("\n").TrimEnd('\n') + "\n```";
        Assert.Contains(block, readme, StringComparison.Ordinal);
    }
}
