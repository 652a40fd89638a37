namespace FlyImages.TestSupport;

/// <summary>Carries the published module's manifest path from MSBuild into the module test assembly.</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class ModulePathAttribute(string path) : Attribute
{
    public string Path { get; } = path;
}
