using System.Collections;
using System.Management.Automation;
using FlyImages.Cmdlets.Infrastructure;
using FlyImages.Health;

namespace FlyImages.Cmdlets;

/// <summary>
/// <para type="synopsis">Shows what this host is: name, machine and boot ids, kernel, device-mapper, store schema, pools and versions.</para>
/// <para type="description">Reads the host's identity with provenance, so results gathered from many hosts can be told apart and
/// compared: the host name (also the ComputerName property every FlyImages output carries), /etc/machine-id, the kernel's boot id
/// (it changes at every boot), the kernel release, whether the kernel offers device-mapper (/proc/misc) and its interface
/// version (DeviceMapperVersion, as dmsetup's "Driver version"; needs root), the store folder and
/// its schema version, the store's thin pools with their data and metadata use, the module, PowerShell and .NET versions, and
/// the time it was read (ReadAt, UTC).</para>
/// <para type="description">Reads only: a missing store is reported (StoreExists false, no schema version), never created, and
/// pools are not re-attached.</para>
/// </summary>
/// <example>
/// <code>Get-FlyHost</code>
/// <para>Shows this host in one table row: name, kernel, device-mapper, schema version, pools and module version.</para>
/// </example>
/// <example>
/// <code>Invoke-Command -HostName web1, web2 -ScriptBlock { Get-FlyHost } | Format-List ComputerName, BootId, SchemaVersion, ReadAt</code>
/// <para>Reads two hosts over SSH remoting; ComputerName says which host each result describes.</para>
/// </example>
/// <example>
/// <code>(Get-FlyHost -StorePath /srv/flyimages).Pools | Format-Table Name, Mode, DataUsedPercent</code>
/// <para>Shows the use of the pools of another store.</para>
/// </example>
/// <seealso cref="TestFlyImageStoreCommand"/>
/// <seealso cref="GetFlyThinPoolCommand"/>
[Cmdlet(VerbsCommon.Get, "FlyHost")]
[OutputType(typeof(FlyHost))]
public sealed class GetFlyHostCommand : FlyCmdlet
{
    protected override void EndProcessing()
    {
        var moduleVersion = MyInvocation.MyCommand.Module?.Version?.ToString() ?? typeof(GetFlyHostCommand).Assembly.GetName().Version?.ToString();
        var psVersion = (SessionState.PSVariable.GetValue("PSVersionTable") as Hashtable)?["PSVersion"]?.ToString();
        try
        {
            WriteObject(RunCore(context => HostInspector.ReadAsync(ResolvedStorePath, moduleVersion, psVersion, context)));
        }
        catch (Exception e) when (e is Errors.FlyException or IOException or UnauthorizedAccessException)
        {
            ThrowFlyError(e, ResolvedStorePath);
        }
    }
}
