using System.Globalization;
using System.Xml;
using System.Xml.Linq;

namespace FlyImages.HelpGen;

/// <summary>Writes commands as a MAML help file (the format Get-Help reads for binary cmdlets).</summary>
internal static class MamlWriter
{
    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    public static void Write(IEnumerable<CommandHelp> commands, string path)
    {
        var document = new XDocument(
            new XDeclaration("1.0", "utf-8", null),
            new XElement(Msh + "helpItems",
                new XAttribute("schema", "maml"),
                new XAttribute(XNamespace.Xmlns + "maml", Maml),
                new XAttribute(XNamespace.Xmlns + "command", Command),
                new XAttribute(XNamespace.Xmlns + "dev", Dev),
                commands.Select(CommandElement)));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var settings = new XmlWriterSettings { Indent = true, Encoding = new System.Text.UTF8Encoding(false), NewLineChars = "\n" };
        var temporary = path + ".tmp";
        using (var writer = XmlWriter.Create(temporary, settings))
        {
            document.Save(writer);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static XElement CommandElement(CommandHelp help) => new(Command + "command",
        new XElement(Command + "details",
            new XElement(Command + "name", help.Name),
            new XElement(Command + "verb", help.Verb),
            new XElement(Command + "noun", help.Noun),
            Description([help.Synopsis])),
        Description(help.Description),
        new XElement(Command + "syntax", help.Syntax.Select(set => new XElement(Command + "syntaxItem",
            new XElement(Maml + "name", help.Name),
            set.Parameters.Select(p => ParameterElement(p, p.In(set.Name)!, inSyntax: true))))),
        new XElement(Command + "parameters", help.Parameters.Select(p => ParameterElement(p, Aggregate(p), inSyntax: false))),
        new XElement(Command + "inputTypes", help.Inputs.Select(i => new XElement(Command + "inputType", TypeElement(i.TypeName), Description(i.Description)))),
        new XElement(Command + "returnValues", help.Outputs.Select(o => new XElement(Command + "returnValue", TypeElement(o.TypeName), Description(o.Description)))),
        new XElement(Maml + "alertSet", new XElement(Maml + "alert", Paras(help.Notes))),
        new XElement(Command + "examples", help.Examples.Select((e, i) => new XElement(Command + "example",
            new XElement(Maml + "title", $"------------------ Example {(i + 1).ToString(CultureInfo.InvariantCulture)} ------------------"),
            new XElement(Dev + "code", e.Code),
            new XElement(Dev + "remarks", Paras(e.Remarks.Append("")))))), // the empty para: a blank line before the next example
        new XElement(Command + "relatedLinks", help.Links.Select(l => new XElement(Maml + "navigationLink",
            new XElement(Maml + "linkText", l),
            new XElement(Maml + "uri")))));

    private static ParameterInSet Aggregate(ParameterHelp p) => new(p.Mandatory, p.Position, p.ByValue, p.ByPropertyName);

    private static XElement ParameterElement(ParameterHelp p, ParameterInSet how, bool inSyntax)
    {
        var element = new XElement(Command + "parameter",
            new XAttribute("required", how.Mandatory ? "true" : "false"),
            new XAttribute("variableLength", p.Type.IsArray ? "true" : "false"),
            new XAttribute("globbing", p.Globbing ? "true" : "false"),
            new XAttribute("pipelineInput", PipelineInput(how)),
            new XAttribute("position", how.Position?.ToString(CultureInfo.InvariantCulture) ?? "named"),
            new XAttribute("aliases", p.Aliases.Count > 0 ? string.Join(", ", p.Aliases) : "none"),
            new XElement(Maml + "name", p.Name),
            Description(p.Description));
        if (!p.IsSwitch || !inSyntax)
        {
            element.Add(new XElement(Command + "parameterValue",
                new XAttribute("required", p.IsSwitch ? "false" : "true"),
                new XAttribute("variableLength", p.Type.IsArray ? "true" : "false"),
                TypeNames.Short(p.Type)));
        }

        element.Add(TypeElement(TypeNames.Full(p.Type)), new XElement(Dev + "defaultValue", p.DefaultValue ?? "None"));
        return element;
    }

    /// <summary>As Get-Help shows it: False, True (ByValue), True (ByPropertyName), True (ByValue, ByPropertyName).</summary>
    public static string PipelineInput(ParameterInSet how) => (how.ByValue, how.ByPropertyName) switch
    {
        (true, true) => "True (ByValue, ByPropertyName)",
        (true, false) => "True (ByValue)",
        (false, true) => "True (ByPropertyName)",
        _ => "False",
    };

    private static XElement TypeElement(string name) => new(Dev + "type", new XElement(Maml + "name", name), new XElement(Maml + "uri"));

    private static XElement Description(IEnumerable<string> paragraphs) => new(Maml + "description", Paras(paragraphs));

    private static IEnumerable<XElement> Paras(IEnumerable<string> paragraphs) => paragraphs.Select(p => new XElement(Maml + "para", p));
}
