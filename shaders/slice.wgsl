// One view of a volume: each fragment finds its voxel through the view's
// affine map, samples the 3-D texture (nearest or trilinear, by textureLoad
// so integer formats keep their stored values), applies scaling and the
// window, and blends the label overlay. Mirrors render::cpu::render_view.
//
// SAMPLE_T is replaced with u32, i32 or f32 when the pipeline is built.

// Keep in sync with SliceUniform in src/render/gpu_data.rs.
struct SliceUniform {
    // Voxel index at view pixel (0, 0), and its steps per pixel right and down.
    origin: vec4<f32>,
    step_x: vec4<f32>,
    step_y: vec4<f32>,
    // nx, ny, nz, channels.
    volume_size: vec4<u32>,
    // window center, window width, scl_slope, scl_inter.
    window: vec4<f32>,
    // view width and height in pixels, overlay opacity, unused.
    view: vec4<f32>,
    // linear interpolation, has labels, outline only, unused.
    flags: vec4<u32>,
};

@group(0) @binding(0) var<uniform> u: SliceUniform;
@group(0) @binding(1) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(2) var labels: texture_3d<u32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// A triangle covering the viewport; uv runs 0..1 across it.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let uv = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

fn voxel_at(pixel: vec2<f32>) -> vec3<f32> {
    return u.origin.xyz + u.step_x.xyz * pixel.x + u.step_y.xyz * pixel.y;
}

fn fetch(index: vec3<u32>, channel: u32) -> f32 {
    let texel = textureLoad(volume, vec3<i32>(index), 0);
    return f32(texel[channel]);
}

// Sample of one channel at a continuous voxel index; w = 0 outside the volume.
fn sample_channel(c: vec3<f32>, channel: u32) -> vec2<f32> {
    let n = vec3<f32>(u.volume_size.xyz);
    if (u.flags.x == 0u) {
        let i = floor(c + 0.5);
        if (any(i < vec3<f32>(0.0)) || any(i >= n)) {
            return vec2<f32>(0.0, 0.0);
        }
        return vec2<f32>(fetch(vec3<u32>(i), channel), 1.0);
    }
    if (any(c < vec3<f32>(-0.5)) || any(c >= n - 0.5)) {
        return vec2<f32>(0.0, 0.0);
    }
    let x = clamp(c, vec3<f32>(0.0), n - 1.0);
    let x0 = floor(x);
    let f = x - x0;
    let lo = vec3<u32>(x0);
    let hi = min(lo + 1u, u.volume_size.xyz - 1u);
    let c00 = mix(fetch(vec3<u32>(lo.x, lo.y, lo.z), channel), fetch(vec3<u32>(hi.x, lo.y, lo.z), channel), f.x);
    let c10 = mix(fetch(vec3<u32>(lo.x, hi.y, lo.z), channel), fetch(vec3<u32>(hi.x, hi.y, lo.z), channel), f.x);
    let c01 = mix(fetch(vec3<u32>(lo.x, lo.y, hi.z), channel), fetch(vec3<u32>(hi.x, lo.y, hi.z), channel), f.x);
    let c11 = mix(fetch(vec3<u32>(lo.x, hi.y, hi.z), channel), fetch(vec3<u32>(hi.x, hi.y, hi.z), channel), f.x);
    return vec2<f32>(mix(mix(c00, c10, f.y), mix(c01, c11, f.y), f.z), 1.0);
}

// grey = floor(clamp((v - (C - W/2)) / W, 0, 1) * 255 + 0.5), as a byte value.
fn grey(value: f32) -> f32 {
    let t = clamp((value - (u.window.x - u.window.y / 2.0)) / u.window.y, 0.0, 1.0);
    return floor(t * 255.0 + 0.5);
}

fn label_at(pixel: vec2<f32>) -> u32 {
    let i = floor(voxel_at(pixel) + 0.5);
    let n = vec3<f32>(textureDimensions(labels));
    if (any(i < vec3<f32>(0.0)) || any(i >= n)) {
        return 0u;
    }
    return textureLoad(labels, vec3<i32>(i), 0).x;
}

// Mirrors render::cpu::label_colour.
fn palette(label: u32) -> vec3<f32> {
    var colours = array<vec3<f32>, 8>(
        vec3<f32>(230.0, 25.0, 75.0),
        vec3<f32>(60.0, 180.0, 75.0),
        vec3<f32>(255.0, 225.0, 25.0),
        vec3<f32>(0.0, 130.0, 200.0),
        vec3<f32>(245.0, 130.0, 48.0),
        vec3<f32>(145.0, 30.0, 180.0),
        vec3<f32>(70.0, 240.0, 240.0),
        vec3<f32>(240.0, 50.0, 230.0),
    );
    return colours[(max(label, 1u) - 1u) % 8u];
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let pixel = in.uv * u.view.xy;
    let c = voxel_at(pixel);
    var rgb = vec3<f32>(0.0);
    let first = sample_channel(c, 0u);
    if (first.y > 0.0) {
        if (u.volume_size.w == 1u) {
            rgb = vec3<f32>(grey(first.x * u.window.z + u.window.w));
        } else {
            rgb = vec3<f32>(grey(first.x), grey(sample_channel(c, 1u).x), grey(sample_channel(c, 2u).x));
        }
    }
    if (u.flags.y == 1u) {
        let label = label_at(pixel);
        var show = label != 0u;
        if (show && u.flags.z == 1u) {
            let same = label_at(pixel + vec2<f32>(-1.0, 0.0)) == label && label_at(pixel + vec2<f32>(1.0, 0.0)) == label
                && label_at(pixel + vec2<f32>(0.0, -1.0)) == label && label_at(pixel + vec2<f32>(0.0, 1.0)) == label;
            show = !same;
        }
        if (show) {
            rgb = floor(rgb * (1.0 - u.view.z) + palette(label) * u.view.z + 0.5);
        }
    }
    return vec4<f32>(rgb / 255.0, 1.0);
}
