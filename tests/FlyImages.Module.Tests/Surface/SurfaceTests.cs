using System.Management.Automation;
using System.Reflection;
using FlyImages.Module.Tests.Infrastructure;
using FlyImages.TestSupport;
using Xunit;

namespace FlyImages.Module.Tests.Surface;

/// <summary>
/// One consistent surface across cmdlets (issue 11, point 5; issue 14's ComputerName): immutable output types
/// whose collections are arrays, one -Source resolver, one name matcher, images found in the store whatever
/// their source, piped objects that carry their connection, each object written once, views that fit 80
/// columns (also deserialized), and tab completion that never creates or migrates a store. No loop devices here.
/// </summary>
[Collection(SeededS3Collection.Name)]
public sealed class SurfaceTests(SeededS3 s3) : IDisposable
{
    // 80 columns: the width the views must fit (only the engine's own cmdlets exist in this hosted engine)
    private readonly PowerShellSession ps = new(80);
    private readonly TempDirectory store = new("flyimages-store");
    private readonly TempDirectory work = new("flyimages-work");

    private Dictionary<string, object?> Vars => new()
    {
        ["ep"] = s3.Endpoint,
        ["src"] = PublicBucketLayout.SourceUri,
        ["store"] = store.Path,
        ["work"] = work.Path,
        ["folder"] = work.Combine("images"),
        ["folderUri"] = new Uri(work.Combine("images")).AbsoluteUri,
    };

    [Fact]
    public void Every_output_type_is_immutable_carries_ComputerName_and_has_no_lists()
    {
        var r = ps.Invoke("(Get-Command -Module FlyImages).OutputType.Type");
        r.ShouldSucceed();
        // a Boolean (Test-FlyImageStore -Quiet, as Test-Connection -Quiet) is the one output that is not an object of ours
        var types = new HashSet<Type>(r.Objects<Type>().Where(t => t != typeof(bool)));
        Assert.All(types, t => Assert.StartsWith("FlyImages.", t.FullName, StringComparison.Ordinal));
        Assert.Contains(types, t => t.FullName == "FlyImages.Model.Image");
        Assert.Contains(types, t => t.FullName == "FlyImages.Workflows.ThinSnapshot");
        Assert.Contains(types, t => t.FullName == "FlyImages.ThinPools.ThinPoolStatus");
        Assert.Contains(types, t => t.FullName == "FlyImages.Workflows.WorkflowEvent");
        Assert.Contains(types, t => t.FullName == "FlyImages.Unpacking.LayerApplyResult");

        // the element types of their collections are output too (ForEach-Object Layers)
        foreach (var type in types.ToList())
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var element = property.PropertyType.IsGenericType ? property.PropertyType.GetGenericArguments()[0] : null;
                if (element is { IsClass: true } && element.Assembly == type.Assembly)
                {
                    types.Add(element);
                }
            }
        }

        foreach (var type in types)
        {
            var computerName = type.GetProperty("ComputerName");
            Assert.True(computerName?.PropertyType == typeof(string), $"{type.FullName} has no string ComputerName");
            Assert.Null(type.GetProperty("HostName"));
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var setter = property.SetMethod;
                var initOnly = setter?.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.Name == "IsExternalInit") ?? false;
                Assert.True(setter is null || !setter.IsPublic || initOnly, $"{type.FullName}.{property.Name} can be set after construction");
                var generic = property.PropertyType.IsGenericType ? property.PropertyType.GetGenericTypeDefinition() : null;
                Assert.True(generic != typeof(List<>) && generic != typeof(Dictionary<,>), $"{type.FullName}.{property.Name} is a {property.PropertyType.Name}");
            }
        }
    }

    [Fact]
    public void Collections_are_arrays_at_run_time_so_intrinsic_ForEach_works()
    {
        PublicBucketLayout.WriteFolder(work.Combine("images"));
        var r = ps.Invoke("""
            $image = Get-FlyImage golang -Source $folder -StorePath $store
            $image.Layers.ForEach{ $_.Key }
            $image.Layers.GetType().IsArray
            $image.Problems.GetType().IsArray
            $image.ComputerName
            $image.Layers[0].ComputerName
            """, Vars);
        r.ShouldSucceed();
        var host = File.ReadAllText("/proc/sys/kernel/hostname").Trim();
        Assert.Equal(["golang/1.tar", "golang/2.tar", "golang/3.tar", "golang/4.tar", "golang/5.tar", "True", "True", host, host],
            r.Output.Select(o => o.ToString()));

        var expanded = ps.Invoke("Expand-FlyLayer -Path $folder/golang/1.tar -Destination $work/root", Vars);
        expanded.ShouldSucceed();
        var result = Assert.Single(expanded.Output);
        Assert.True(result.Properties["Skipped"].Value.GetType().IsArray);
        Assert.True(result.Properties["Warnings"].Value.GetType().IsArray);
        Assert.Equal(host, result.Properties["ComputerName"].Value);
    }

    [Fact]
    public void A_folder_its_file_uri_and_a_path_relative_to_the_current_location_are_one_source()
    {
        PublicBucketLayout.WriteFolder(work.Combine("images"));
        var r = ps.Invoke("""
            $ExecutionContext.SessionState.Path.PushCurrentLocation('')
            try {
                $null = $ExecutionContext.SessionState.Path.SetLocation($work)
                (Get-FlyImage node -Source ./images -StorePath $store).Source
                (Get-FlyImage node -Source images -StorePath $store).Source
                (Get-FlyImage node -Source $folderUri -StorePath $store).Source
                (Get-FlyImage node -Source "$folder/" -StorePath $store).Source
            } finally { $null = $ExecutionContext.SessionState.Path.PopLocation('') }
            """, Vars);
        r.ShouldSucceed();
        var expected = new Uri(work.Combine("images")).AbsoluteUri;
        Assert.Equal(Enumerable.Repeat(expected, 4), r.Output.Select(o => o.ToString()));
    }

    [Fact]
    public void Overlapping_patterns_and_piped_names_write_each_image_once()
    {
        PublicBucketLayout.WriteFolder(work.Combine("images"));
        var r = ps.Invoke("""
            Get-FlyImage go*, golang, GOLANG, *o* -Source $folder -StorePath $store
            'golang', 'go*' | Get-FlyImage -Source $folder -StorePath $store
            """, Vars);
        r.ShouldSucceed();
        Assert.Equal(["golang", "node", "python", "golang"], r.Output.Select(o => (string)o.Properties["Name"].Value));
    }

    [Fact]
    public void An_image_listed_from_an_endpoint_carries_it_but_never_a_secret()
    {
        var r = ps.Invoke("""
            $secret = [securestring]::new(); 'S3RVER'.ToCharArray().ForEach{ $secret.AppendChar($_) }
            $image = Get-FlyImage golang -Source $src -Endpoint $ep -Credential ([pscredential]::new('S3RVER', $secret)) -StorePath $store
            $image.Endpoint
            $image.Region
            [System.Management.Automation.PSSerializer]::Serialize($image, 3)
            """, Vars);
        r.ShouldSucceed();
        Assert.Equal(s3.Endpoint, r.Output[0].ToString());
        Assert.Equal("us-east-1", r.Output[1].ToString());
        Assert.DoesNotContain("S3RVER", r.Output[2].ToString(), StringComparison.Ordinal);

        // Save-FlyImage takes the piped image from where it was listed: no -Endpoint repeated
        var saved = ps.Invoke("Get-FlyImage node -Source $src -Endpoint $ep -StorePath $store | Save-FlyImage -StorePath $store -PassThru", Vars);
        saved.ShouldSucceed();
        var image = Assert.Single(saved.Output);
        Assert.Equal("Fetched", image.Properties["State"].Value.ToString());
        Assert.Equal(s3.Endpoint, image.Properties["Endpoint"].Value);
    }

    [Fact]
    public void Views_fit_80_columns_and_apply_to_deserialized_objects_too()
    {
        PublicBucketLayout.WriteFolder(work.Combine("images"));
        ps.Invoke("Save-FlyImage golang -Source $folder -StorePath $store", Vars).ShouldSucceed();
        ViewChecks.AssertViews(ps, Vars, "Get-FlyImage -Source $folder -StorePath $store", "Name", "Layers", "Size", "State", "Source");
        ViewChecks.AssertViews(ps, Vars, "(Get-FlyImage golang -Source $folder -StorePath $store).Layers", "Index", "Size", "Key", "Digest");
        ViewChecks.AssertViews(ps, Vars,
            "Expand-FlyLayer -Path $folder/golang/1.tar, $folder/golang/2.tar -Destination $work/root",
            "Layer", "Format", "Entries", "Written", "Whiteouts", "Skipped", "Duration");
    }

    [Fact]
    public void Completion_never_creates_a_store_and_never_migrates_one()
    {
        var missing = work.Combine("no", "store");
        var vars = Vars;
        vars["missing"] = missing;
        var r = ps.Invoke("""
            $line = "Install-FlyImage -StorePath $missing -Name g"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.Count
            """, vars);
        r.ShouldSucceed();
        Assert.Equal("0", r.Output.Single().ToString());
        Assert.False(Directory.Exists(work.Combine("no")), "completion created the store folder");

        // a current store completes its names
        PublicBucketLayout.WriteFolder(work.Combine("images"));
        ps.Invoke("Save-FlyImage golang, node -Source $folder -StorePath $store", Vars).ShouldSucceed();
        var names = ps.Invoke("""
            $line = "New-FlyThinSnapshot -StorePath $store -Image go"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
            """, Vars);
        names.ShouldSucceed();
        Assert.Equal("golang", Assert.Single(names.Output).ToString());

        // an older schema completes nothing and stays as it was
        var db = Path.Combine(store.Path, "flyimages.db");
        Assert.Equal(1L, Sqlite(db, "PRAGMA user_version = 1; PRAGMA user_version;"));
        var old = ps.Invoke("""
            $line = "New-FlyThinSnapshot -StorePath $store -Image go"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.Count
            """, Vars);
        old.ShouldSucceed();
        Assert.Equal("0", old.Output.Single().ToString());
        Assert.Equal(1L, Sqlite(db, "PRAGMA user_version;"));
    }

    /// <summary>
    /// Runs SQL on the store's database with the module's own Microsoft.Data.Sqlite (this test project references
    /// none of the module's assemblies), returning the last scalar.
    /// </summary>
    private long Sqlite(string database, string sql)
    {
        var r = ps.Invoke("""
            $assembly = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Microsoft.Data.Sqlite' })[0]
            $type = $assembly.GetType('Microsoft.Data.Sqlite.SqliteConnection')
            $connection = $type::new("Data Source=$db;Pooling=False")
            try {
                $connection.Open()
                $command = $connection.CreateCommand()
                $command.CommandText = $sql
                [long]$command.ExecuteScalar()
            } finally { $connection.Dispose() }
            """, new Dictionary<string, object?> { ["db"] = database, ["sql"] = sql });
        r.ShouldSucceed();
        return (long)r.Output.Single().BaseObject;
    }

    public void Dispose()
    {
        ps.Dispose();
        store.Dispose();
        work.Dispose();
    }
}

/// <summary>The checks every default table view must pass, live and after a remoting round trip.</summary>
internal static class ViewChecks
{
    /// <summary>
    /// Formats what <paramref name="script"/> outputs in the session's 80-column host: no line wider than 80, every
    /// column label in the header, no truncation mark in the first 40 columns of any row; then the same objects after
    /// PSSerializer.Serialize/Deserialize at depths 1 and 2 (Deserialized.* type names, as remoting and
    /// Import-Clixml make them) format the same.
    /// </summary>
    public static void AssertViews(PowerShellSession ps, IDictionary<string, object?> vars, string script, params string[] labels)
    {
        // the session's host is 80 columns wide: Out-Default formats to it (Out-String is not in this hosted engine)
        var r = ps.Invoke($$"""
            $global:viewObjects = @({{script}})
            if ($viewObjects.Count -eq 0) { throw 'nothing to format' }
            $viewObjects[0].pstypenames[0]
            $viewObjects | Out-Default
            """, vars);
        r.ShouldSucceed();
        var typeName = r.Output.Single().ToString();
        var live = r.HostText;
        // depth 1 is remoting's default; 2 is Export-Clixml's (enums then come back as numbers that format by name)
        var deserialized = new List<string>();
        foreach (var depth in new[] { 1, 2 })
        {
            var back = ps.Invoke("""
                $back = @($viewObjects | ForEach-Object { [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($_, $depth)) })
                $back[0].pstypenames[0]
                $back | Out-Default
                """, new Dictionary<string, object?> { ["depth"] = depth });
            back.ShouldSucceed();
            Assert.Equal("Deserialized." + typeName, back.Output.Single().ToString());
            deserialized.Add(back.HostText);
        }

        var lines = live.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToList();
        Assert.All(lines, l => Assert.True(l.Length <= 80, $"{typeName}: a line of {l.Length} columns:\n{live}"));
        var header = lines[0];
        foreach (var label in labels)
        {
            Assert.True(header.Contains(label, StringComparison.Ordinal), $"{typeName}: no column '{label}' in\n{live}");
        }

        Assert.DoesNotContain("…", string.Join("\n", lines.Skip(2).Select(l => l.Length > 40 ? l[..40] : l)), StringComparison.Ordinal);
        Assert.All(deserialized, text => Assert.Equal(live, text));
    }
}
