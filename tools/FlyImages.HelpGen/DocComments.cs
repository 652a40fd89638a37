using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace FlyImages.HelpGen;

/// <summary>
/// The compiler's XML documentation files (one per assembly, beside it), read on demand, and the rules that turn
/// their elements into help paragraphs: whitespace collapsed, <c>&lt;c&gt;</c> kept as text, <c>&lt;see cref&gt;</c>
/// to a cmdlet class written as the cmdlet's name.
/// </summary>
internal sealed partial class DocComments(Func<string, string?> cmdletNameOfTypeId)
{
    private readonly Dictionary<string, Dictionary<string, XElement>?> files = new(StringComparer.Ordinal);

    /// <summary>The documentation id of a type (<c>T:Namespace.Type</c>).</summary>
    public static string Id(Type type) => "T:" + type.FullName!.Replace('+', '.');

    /// <summary>The documentation id of a property, on the class that declares it (base classes included).</summary>
    public static string Id(PropertyInfo property) => "P:" + Id(property.DeclaringType!)[2..] + "." + property.Name;

    /// <summary>The <c>&lt;member&gt;</c> element of <paramref name="id"/> in <paramref name="assembly"/>'s documentation file, if any.</summary>
    public XElement? Member(Assembly assembly, string id)
    {
        var path = Path.ChangeExtension(assembly.Location, ".xml");
        if (!files.TryGetValue(path, out var members))
        {
            members = File.Exists(path)
                ? XDocument.Load(path).Descendants("member")
                    .Where(m => m.Attribute("name") is not null)
                    .GroupBy(m => m.Attribute("name")!.Value, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal)
                : null;
            files[path] = members;
        }

        return members is not null && members.TryGetValue(id, out var member) ? member : null;
    }

    /// <summary>
    /// The paragraphs of <paramref name="element"/>: each <c>&lt;para&gt;</c> child (those of <paramref name="type"/>, or
    /// untyped ones when <paramref name="type"/> is null) is one; without any, the element's whole text is one.
    /// </summary>
    public IReadOnlyList<string> Paragraphs(XElement? element, string? type = null)
    {
        if (element is null)
        {
            return [];
        }

        var paras = element.Elements("para").ToList();
        if (paras.Count == 0)
        {
            return type is null or "synopsis" ? NonEmpty([Inline(element)]) : [];
        }

        return NonEmpty(paras.Where(p => type is null ? p.Attribute("type") is null : (string?)p.Attribute("type") == type).Select(Inline));
    }

    /// <summary>Every paragraph of <paramref name="element"/>, whatever its type; without any, its whole text.</summary>
    public IReadOnlyList<string> AllParagraphs(XElement? element)
        => element is null ? [] : element.Elements("para").Any() ? NonEmpty(element.Elements("para").Select(Inline)) : NonEmpty([Inline(element)]);

    /// <summary>The text of <paramref name="element"/> on one line.</summary>
    public string Inline(XElement element)
    {
        var text = new StringBuilder();
        Append(element, text);
        return Whitespace().Replace(text.ToString(), " ").Trim();
    }

    /// <summary>The text of a <c>&lt;code&gt;</c> element: lines kept, common indentation and blank edges removed.</summary>
    public static string Code(XElement code)
    {
        var lines = code.Value.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        while (lines.Count > 0 && string.IsNullOrWhiteSpace(lines[0]))
        {
            lines.RemoveAt(0);
        }

        while (lines.Count > 0 && string.IsNullOrWhiteSpace(lines[^1]))
        {
            lines.RemoveAt(lines.Count - 1);
        }

        var indent = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..].TrimEnd() : l.Trim()));
    }

    private void Append(XElement element, StringBuilder text)
    {
        foreach (var node in element.Nodes())
        {
            switch (node)
            {
                case XText t:
                    text.Append(t.Value);
                    break;
                case XElement { Name.LocalName: "see" or "seealso" } see:
                    text.Append(CrefText(see));
                    break;
                case XElement { Name.LocalName: "paramref" or "typeparamref" } reference:
                    text.Append((string?)reference.Attribute("name"));
                    break;
                case XElement { Name.LocalName: "para" } para:
                    text.Append(' ');
                    Append(para, text);
                    text.Append(' ');
                    break;
                case XElement child:
                    Append(child, text);
                    break;
            }
        }
    }

    /// <summary>A cref as a reader wants it: a cmdlet's name, else the member's short name.</summary>
    public string CrefText(XElement see)
    {
        if ((string?)see.Attribute("langword") is { } word)
        {
            return word;
        }

        if (see.Value.Trim().Length > 0)
        {
            return see.Value.Trim();
        }

        var cref = (string?)see.Attribute("cref") ?? (string?)see.Attribute("href") ?? "";
        if (cmdletNameOfTypeId(cref) is { } cmdlet)
        {
            return cmdlet;
        }

        var name = cref.Contains(':', StringComparison.Ordinal) ? cref[(cref.IndexOf(':', StringComparison.Ordinal) + 1)..] : cref;
        var paren = name.IndexOf('(', StringComparison.Ordinal);
        if (paren >= 0)
        {
            name = name[..paren];
        }

        return name[(name.LastIndexOf('.') + 1)..];
    }

    private static IReadOnlyList<string> NonEmpty(IEnumerable<string> paragraphs) => paragraphs.Where(p => p.Length > 0).ToList();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
