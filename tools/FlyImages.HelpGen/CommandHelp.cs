using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Reflection;
using System.Xml.Linq;

namespace FlyImages.HelpGen;

/// <summary>What one parameter set says about a parameter.</summary>
internal sealed record ParameterInSet(bool Mandatory, int? Position, bool ByValue, bool ByPropertyName);

/// <summary>One parameter: its attributes from the cmdlet class, its text from the property's doc comment.</summary>
internal sealed record ParameterHelp(
    string Name,
    Type Type,
    IReadOnlyList<string> Aliases,
    bool Globbing,
    string? DefaultValue,
    IReadOnlyList<string> Description,
    IReadOnlyDictionary<string, ParameterInSet> Sets)
{
    public const string AllSets = "__AllParameterSets";

    public bool IsSwitch => Type == typeof(SwitchParameter);

    /// <summary>How the parameter behaves in <paramref name="set"/> (its own entry, else the one for all sets).</summary>
    public ParameterInSet? In(string set) => Sets.TryGetValue(set, out var own) ? own : Sets.GetValueOrDefault(AllSets);

    /// <summary>Mandatory in every set it belongs to.</summary>
    public bool Mandatory => Sets.Values.All(s => s.Mandatory);

    /// <summary>The position when every set agrees on one, else null (named).</summary>
    public int? Position => Sets.Values.Select(s => s.Position).Distinct().Count() == 1 ? Sets.Values.First().Position : null;

    public bool ByValue => Sets.Values.Any(s => s.ByValue);

    public bool ByPropertyName => Sets.Values.Any(s => s.ByPropertyName);
}

internal sealed record ExampleHelp(string Code, IReadOnlyList<string> Remarks);

internal sealed record TypeHelp(string TypeName, IReadOnlyList<string> Description);

/// <summary>Everything the MAML of one cmdlet says.</summary>
internal sealed partial record CommandHelp(
    string Name,
    string Verb,
    string Noun,
    string Synopsis,
    IReadOnlyList<string> Description,
    IReadOnlyList<(string Name, IReadOnlyList<ParameterHelp> Parameters)> Syntax,
    IReadOnlyList<ParameterHelp> Parameters,
    IReadOnlyList<TypeHelp> Inputs,
    IReadOnlyList<TypeHelp> Outputs,
    IReadOnlyList<string> Notes,
    IReadOnlyList<ExampleHelp> Examples,
    IReadOnlyList<string> Links)
{
    /// <summary>
    /// Reads a cmdlet class: syntax, parameter attributes, inputs and outputs by reflection (PowerShell's own
    /// CommandMetadata, so they are what the engine binds); text from the doc comments.
    /// </summary>
    public static CommandHelp Read(Type type, DocComments docs, string aboutTopic)
    {
        var cmdlet = type.GetCustomAttribute<CmdletAttribute>()!;
        var name = $"{cmdlet.VerbName}-{cmdlet.NounName}";
        var metadata = new CommandMetadata(type);
        var classDoc = docs.Member(type.Assembly, DocComments.Id(type));
        var summary = classDoc?.Element("summary");
        var instance = TryCreate(type);

        var parameters = metadata.Parameters.Values.Select(p => ReadParameter(type, p, docs, instance)).ToList();
        if (cmdlet.SupportsShouldProcess)
        {
            parameters.Add(ShouldProcessParameter("WhatIf", ["wi"], "Shows what would happen if the cmdlet runs: each change it would make is written as a 'What if:' line, and nothing is changed."));
            parameters.Add(ShouldProcessParameter("Confirm", ["cf"], $"Asks for confirmation before each change. This cmdlet's ConfirmImpact is {cmdlet.ConfirmImpact}: it asks without -Confirm when $ConfirmPreference is {cmdlet.ConfirmImpact} or lower{(cmdlet.ConfirmImpact == ConfirmImpact.High && parameters.Any(p => p.Name == "Force") ? "; -Force skips the question (never -WhatIf)" : "")}. -Confirm:$false never asks."));
        }

        // the default set counts even when no parameter names it (Get-FlyImage's Source set: every parameter is in all sets)
        var defaultSet = metadata.DefaultParameterSetName;
        var setNames = parameters.SelectMany(p => p.Sets.Keys).Append(defaultSet ?? ParameterHelp.AllSets)
            .Where(s => s != ParameterHelp.AllSets).Distinct().ToList();
        setNames = setNames.OrderBy(s => s == defaultSet ? 0 : 1).ThenBy(s => s, StringComparer.Ordinal).ToList();
        if (setNames.Count == 0)
        {
            setNames.Add(ParameterHelp.AllSets);
        }

        var syntax = setNames.Select(set => (set, (IReadOnlyList<ParameterHelp>)SyntaxOrder(parameters.Where(p => p.In(set) is not null), set))).ToList();

        return new CommandHelp(
            name,
            cmdlet.VerbName,
            cmdlet.NounName,
            string.Join(" ", docs.Paragraphs(summary, "synopsis")),
            [.. docs.Paragraphs(summary, "description"), .. (summary?.Elements("para").Any() == true ? docs.Paragraphs(summary, null) : [])],
            syntax,
            parameters.OrderBy(p => p.Name switch { "WhatIf" => 1, "Confirm" => 2, _ => 0 }).ThenBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ToList(),
            ReadInputs(parameters),
            ReadOutputs(type, docs),
            MakeNotes(cmdlet, parameters),
            classDoc?.Elements("example").Select(e => new ExampleHelp(
                e.Element("code") is { } code ? DocComments.Code(code) : "",
                docs.AllParagraphs(new XElement("remarks", e.Elements("para"))))).ToList() ?? [],
            [.. (classDoc?.Elements("seealso").Select(docs.CrefText) ?? []), aboutTopic]);
    }

    private static ParameterHelp ReadParameter(Type type, ParameterMetadata parameter, DocComments docs, object? instance)
    {
        var property = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).First(p => p.Name == parameter.Name);
        var doc = docs.Member(property.DeclaringType!.Assembly, DocComments.Id(property));
        var sets = parameter.ParameterSets.ToDictionary(
            s => s.Key,
            s => new ParameterInSet(s.Value.IsMandatory, s.Value.Position == int.MinValue ? null : s.Value.Position, s.Value.ValueFromPipeline, s.Value.ValueFromPipelineByPropertyName),
            StringComparer.Ordinal);
        var description = docs.AllParagraphs(doc?.Element("summary"));
        return new ParameterHelp(
            parameter.Name,
            parameter.ParameterType,
            parameter.Aliases.ToList(),
            parameter.Attributes.OfType<SupportsWildcardsAttribute>().Any(),
            DefaultValue(property, instance) ?? StatedDefault(description),
            description,
            sets);
    }

    /// <summary>
    /// A default the code cannot show (it is decided later: FLYIMAGES_HOME, 10 GiB, every image...), as the text states
    /// it: "Default: X." gives X.
    /// </summary>
    private static string? StatedDefault(IEnumerable<string> description)
        => description.Select(p => DefaultSentence().Match(p)).FirstOrDefault(m => m.Success)?.Groups[1].Value;

    [System.Text.RegularExpressions.GeneratedRegex(@"\bDefault: (.+?)\.(?:\s|$)")]
    private static partial System.Text.RegularExpressions.Regex DefaultSentence();

    private static ParameterHelp ShouldProcessParameter(string name, string[] aliases, string text)
        => new(name, typeof(SwitchParameter), aliases, false, "False", [text],
            new Dictionary<string, ParameterInSet> { [ParameterHelp.AllSets] = new(false, null, false, false) });

    /// <summary>Positional parameters by position, then mandatory ones, then the rest as declared; WhatIf and Confirm last.</summary>
    private static List<ParameterHelp> SyntaxOrder(IEnumerable<ParameterHelp> parameters, string set)
        => parameters
            .Select((p, i) => (p, i, s: p.In(set)!))
            .OrderBy(x => x.p.Name switch { "WhatIf" => 1, "Confirm" => 2, _ => 0 })
            .ThenBy(x => x.s.Position ?? int.MaxValue)
            .ThenBy(x => x.s.Mandatory ? 0 : 1)
            .ThenBy(x => x.i)
            .Select(x => x.p)
            .ToList();

    private static List<TypeHelp> ReadInputs(IEnumerable<ParameterHelp> parameters)
    {
        var inputs = new List<TypeHelp>();
        foreach (var group in parameters.Where(p => p.ByValue || p.ByPropertyName).GroupBy(p => TypeNames.Full(TypeNames.Element(p.Type))))
        {
            var lines = group.Select(p =>
            {
                var ways = p.ByValue && p.ByPropertyName ? "by value, or by property name" : p.ByValue ? "by value" : "by property name";
                var names = p.ByPropertyName ? $" (a property named {string.Join(" or ", new[] { p.Name }.Concat(p.Aliases))})" : "";
                return $"-{p.Name} accepts pipeline input {ways}{names}.";
            });
            inputs.Add(new TypeHelp(group.Key, [string.Join(" ", lines)]));
        }

        return inputs.Count > 0 ? inputs : [new TypeHelp("None", ["You cannot pipe objects to this cmdlet."])];
    }

    private static List<TypeHelp> ReadOutputs(Type type, DocComments docs)
    {
        var outputs = type.GetCustomAttributes<OutputTypeAttribute>()
            .SelectMany(a => a.Type)
            .Select(t => t.Type)
            .Where(t => t is not null)
            .Distinct()
            .Select(t =>
            {
                var summary = docs.AllParagraphs(docs.Member(t!.Assembly, DocComments.Id(t))?.Element("summary"));
                var properties = t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => p.Name).ToList();
                return new TypeHelp(TypeNames.Full(t), [.. summary, $"Properties: {string.Join(", ", properties)}."]);
            })
            .ToList();
        return outputs.Count > 0 ? outputs : [new TypeHelp("None", ["This cmdlet writes no objects to the pipeline."])];
    }

    private static List<string> MakeNotes(CmdletAttribute cmdlet, IReadOnlyList<ParameterHelp> parameters)
    {
        var notes = new List<string>();
        if (cmdlet.SupportsShouldProcess)
        {
            notes.Add(cmdlet.ConfirmImpact == ConfirmImpact.High
                ? $"This cmdlet changes the host and asks for confirmation before each change (ConfirmImpact High){(parameters.Any(p => p.Name == "Force") ? " unless -Force or -Confirm:$false is given" : " unless -Confirm:$false is given")}. -WhatIf shows what it would do."
                : $"This cmdlet changes the host; it supports -WhatIf and -Confirm (ConfirmImpact {cmdlet.ConfirmImpact}).");
        }
        else
        {
            notes.Add("This cmdlet only reads: it never creates or changes a store.");
        }

        notes.Add("Errors have stable ids (the FullyQualifiedErrorId starts with them, e.g. ImageNotFound,FlyImages.Cmdlets." + cmdlet.VerbName + cmdlet.NounName + "Command); about_FlyImages lists them with their categories.");
        return notes;
    }

    private static object? TryCreate(Type type)
    {
        try
        {
            return Activator.CreateInstance(type);
        }
        catch (Exception e) when (e is TargetInvocationException or MissingMethodException or MemberAccessException)
        {
            return null;
        }
    }

    /// <summary>The property's value on a fresh cmdlet object, when that is a real default (not null, zero, or empty).</summary>
    private static string? DefaultValue(PropertyInfo property, object? instance)
    {
        if (property.PropertyType == typeof(SwitchParameter))
        {
            return "False";
        }

        var value = instance is null ? null : property.GetValue(instance);
        switch (value)
        {
            case null:
            case string { Length: 0 }:
            case ICollection { Count: 0 }:
                return null;
            case string s:
                return s;
            case ICollection items:
                return string.Join(", ", items.Cast<object?>().Select(i => Convert.ToString(i, CultureInfo.InvariantCulture)));
        }

        if (value.Equals(Activator.CreateInstance(value.GetType())))
        {
            return null;
        }

        return value switch
        {
            long or int when Convert.ToInt64(value, CultureInfo.InvariantCulture) is var n && n >= 1024 && n % 1024 == 0 => $"{n.ToString(CultureInfo.InvariantCulture)} ({Bytes(n)})",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
    }

    private static string Bytes(long n)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        var unit = 0;
        while (n % 1024 == 0 && n >= 1024 && unit < units.Length - 1)
        {
            n /= 1024;
            unit++;
        }

        return $"{n.ToString(CultureInfo.InvariantCulture)} {units[unit]}";
    }
}

/// <summary>Type names as help shows them.</summary>
internal static class TypeNames
{
    public static Type Element(Type type) => type.IsArray ? type.GetElementType()! : Nullable.GetUnderlyingType(type) ?? type;

    /// <summary>Short: String[], Int64, SwitchParameter (what the syntax shows).</summary>
    public static string Short(Type type) => type.IsArray ? Short(type.GetElementType()!) + "[]" : (Nullable.GetUnderlyingType(type) ?? type).Name;

    /// <summary>Full: System.String[], FlyImages.Model.Image.</summary>
    public static string Full(Type type) => type.IsArray ? Full(type.GetElementType()!) + "[]" : (Nullable.GetUnderlyingType(type) ?? type).FullName!.Replace('+', '.');
}
