namespace FlyImages.Model;

/// <summary>The compression a layer's key name announces. The unpacker trusts the bytes, not this.</summary>
public enum LayerCompression
{
    None,
    Gzip,
    Zstd,
}
