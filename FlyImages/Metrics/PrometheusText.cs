using System.Globalization;
using System.Text;

namespace FlyImages.Metrics;

/// <summary>
/// Writes the Prometheus text exposition format (version 0.0.4): one HELP and one TYPE line per metric family, then its
/// samples; label values escaped; no timestamps (the textfile collector stamps them when scraped).
/// </summary>
public sealed class PrometheusText
{
    private readonly StringBuilder text = new();
    private readonly HashSet<string> families = new(StringComparer.Ordinal);

    /// <summary>Starts a metric family. Each name once; <paramref name="type"/> is gauge, counter or histogram.</summary>
    public PrometheusText Family(string name, string type, string help)
    {
        if (!IsValidName(name) || !families.Add(name))
        {
            throw new ArgumentException($"'{name}' is not a valid new metric name.", nameof(name));
        }

        text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(help)).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        return this;
    }

    /// <summary>One sample of the current family (or of its _bucket/_sum/_count series).</summary>
    public PrometheusText Sample(string name, double value, params (string Name, string Value)[] labels)
    {
        text.Append(name);
        if (labels.Length > 0)
        {
            text.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                text.Append(i == 0 ? "" : ",").Append(labels[i].Name).Append("=\"").Append(EscapeLabel(labels[i].Value)).Append('"');
            }

            text.Append('}');
        }

        text.Append(' ').Append(Format(value)).Append('\n');
        return this;
    }

    /// <summary>A histogram's samples: cumulative buckets (upper bounds in seconds, +Inf last), _sum and _count.</summary>
    public PrometheusText Histogram(string name, IReadOnlyList<double> bounds, IEnumerable<double> observations)
    {
        ArgumentNullException.ThrowIfNull(bounds);
        var values = observations.ToList();
        foreach (var bound in bounds)
        {
            Sample(name + "_bucket", values.Count(v => v <= bound), ("le", Format(bound)));
        }

        Sample(name + "_bucket", values.Count, ("le", "+Inf"));
        Sample(name + "_sum", values.Sum());
        Sample(name + "_count", values.Count);
        return this;
    }

    public override string ToString() => text.ToString();

    public static string Format(double value) => double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);

    public static string EscapeLabel(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string EscapeHelp(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static bool IsValidName(string name)
        => name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');
}
