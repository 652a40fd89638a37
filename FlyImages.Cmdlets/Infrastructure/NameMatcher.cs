using System.Management.Automation;

namespace FlyImages.Cmdlets.Infrastructure;

/// <summary>
/// The one way cmdlets select images, snapshots, pools and events by name. Rules: wildcards (<c>*</c>, <c>?</c>,
/// <c>[a-z]</c>) unless the cmdlet takes exact names; case-insensitive, except that a name typed without
/// wildcards that matches some object exactly (same case) selects only those; every object at most once,
/// however many patterns match it (<c>web-*, web-1</c>); names typed without wildcards that match
/// nothing are reported (each cmdlet writes its not-found error for them).
/// </summary>
internal sealed class NameMatcher
{
    private readonly List<(string Text, WildcardPattern Pattern, bool Literal)> patterns;

    /// <param name="names">The names or patterns; null or empty selects everything.</param>
    /// <param name="wildcards">False for cmdlets that take exact names (wildcard characters are then literal).</param>
    public NameMatcher(IEnumerable<string>? names, bool wildcards = true)
    {
        var list = names?.Where(n => n is not null).Distinct(StringComparer.Ordinal).ToList() ?? [];
        if (list.Count == 0)
        {
            list.Add("*");
            wildcards = true;
        }

        patterns = list.Select(n =>
        {
            var literal = !wildcards || !WildcardPattern.ContainsWildcardCharacters(n);
            var pattern = WildcardPattern.Get(wildcards ? n : WildcardPattern.Escape(n), WildcardOptions.IgnoreCase);
            return (n, pattern, literal);
        }).ToList();
    }

    /// <summary>Whether <paramref name="name"/> matches any pattern (ignoring the exact-case preference).</summary>
    public bool IsMatch(string name) => patterns.Any(p => p.Pattern.IsMatch(name));

    /// <summary>
    /// The items whose names match, each once, in <paramref name="items"/>' order, and the names typed
    /// without wildcards that matched nothing.
    /// </summary>
    public (IReadOnlyList<T> Matched, IReadOnlyList<string> Missing) Select<T>(IEnumerable<T> items, Func<T, string> nameOf)
    {
        var all = items as IReadOnlyList<T> ?? items.ToList();
        var selected = new bool[all.Count];
        var missing = new List<string>();
        foreach (var (text, pattern, literal) in patterns)
        {
            var hits = Enumerable.Range(0, all.Count).Where(i => pattern.IsMatch(nameOf(all[i]))).ToList();
            if (literal && hits.Any(i => string.Equals(nameOf(all[i]), text, StringComparison.Ordinal)))
            {
                hits = hits.Where(i => string.Equals(nameOf(all[i]), text, StringComparison.Ordinal)).ToList();
            }

            if (hits.Count == 0 && literal)
            {
                missing.Add(text);
            }

            hits.ForEach(i => selected[i] = true);
        }

        return (all.Where((_, i) => selected[i]).ToArray(), missing);
    }
}
