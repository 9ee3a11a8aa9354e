//! The C ABI's (pointer, length) arguments and its last-error rule (issue 24).
//!
//! A length no object can have (UINT64_MAX, 2^63, more bytes than isize::MAX) or above a documented cap is a typed
//! error with a message, refused before any slice is built over it: such a slice is undefined behaviour (a debug
//! build aborts on it), and an abort would take the caller's process down. The calls that abort under a regression
//! run in a child process (this test binary, filtered to one ignored test), so an abort fails a test instead of
//! ending the run. And every successful call that returns a status, `dinof_job_free(NULL)` included, leaves ""
//! as the last error message (include/dinof.h, dinof_last_error_message).

mod common;

use std::ffi::{c_void, CStr, CString};
use std::process::Command;
use std::ptr;

use dinof::ffi::ptr::slice_len;
use dinof::ffi::*;

fn last_error() -> String {
    // SAFETY: the library's own thread-local string, never NULL.
    unsafe { CStr::from_ptr(dinof_last_error_message()) }.to_string_lossy().into_owned()
}

/// Runs the ignored test `name` in a child copy of this test binary; its failure or abort fails the caller.
fn in_child(name: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([name, "--exact", "--ignored", "--test-threads=1"])
        .output()
        .expect("run the test binary");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} in a child process ended with {}:\n{text}",
        out.status
    );
}

/// Byte counts past isize::MAX, the largest object size: each must be refused, whatever the element size.
const HUGE: [u64; 3] = [u64::MAX, 1 << 63, isize::MAX as u64 + 1];

#[test]
fn lengths_past_the_largest_object_are_refused() {
    for len in HUGE {
        let e = slice_len::<u8>(len, "size").unwrap_err();
        assert_eq!(e.status, DINOF_STATUS_INVALID_ARGUMENT);
        assert!(e.message.contains(&format!("size = {len}")), "{}", e.message);
    }
    // The bound is in bytes: the largest count of 24-byte blobs, and one more.
    let most = isize::MAX as u64 / std::mem::size_of::<dinof_blob>() as u64;
    assert_eq!(slice_len::<dinof_blob>(most, "blob_count").unwrap(), most as usize);
    assert!(slice_len::<dinof_blob>(most + 1, "blob_count").is_err());
    assert_eq!(slice_len::<u8>(isize::MAX as u64, "size").unwrap(), isize::MAX as usize);
}

#[test]
fn load_from_memory_refuses_impossible_sizes() {
    in_child("load_from_memory_refuses_impossible_sizes_child");
}

#[test]
#[ignore = "run in a child process by load_from_memory_refuses_impossible_sizes"]
fn load_from_memory_refuses_impossible_sizes_child() {
    // Real, small buffers: the library must refuse from the sizes alone, before reading a byte.
    let manifest = b"{}";
    let name = CString::new("score.onnx").unwrap();
    let data = [0u8; 4];
    let blob = |size: u64| dinof_blob { name: name.as_ptr(), data: data.as_ptr().cast::<c_void>(), size };
    let load = |size: u64, blobs: &[dinof_blob], count: u64| {
        let mut out: *mut dinof_model = ptr::null_mut();
        // SAFETY: valid pointers; the sizes lie, which is what is tested.
        let status = unsafe {
            dinof_model_load_from_memory(manifest.as_ptr().cast(), size, blobs.as_ptr(), count, ptr::null(), &mut out)
        };
        assert!(out.is_null(), "a model from a refused load");
        (status, last_error())
    };
    let limit = DINOF_MAX_MANIFEST_BYTES;
    for size in HUGE.into_iter().chain([limit + 1]) {
        let (status, msg) = load(size, &[blob(4)], 1);
        assert_eq!(status, DINOF_STATUS_MANIFEST_TOO_LARGE, "manifest_size {size}: {msg}");
        assert!(msg.contains(&format!("is {size} bytes")) && msg.contains(&format!("the limit is {limit}")), "{msg}");
    }
    let most_blobs = isize::MAX as u64 / std::mem::size_of::<dinof_blob>() as u64;
    for count in [u64::MAX, 1 << 63, most_blobs + 1] {
        let (status, msg) = load(2, &[blob(4)], count);
        assert_eq!(status, DINOF_STATUS_INVALID_ARGUMENT, "blob_count {count}: {msg}");
        assert!(msg.contains(&format!("blob_count = {count}")), "{msg}");
    }
    for size in HUGE {
        let (status, msg) = load(2, &[blob(4), blob(size)], 2);
        assert_eq!(status, DINOF_STATUS_INVALID_ARGUMENT, "blob size {size}: {msg}");
        assert!(msg.contains(&format!("blobs[1].size = {size}")), "{msg}");
    }
    // Within the bounds the sizes are read as given: this manifest is simply invalid JSON for a bundle.
    assert_eq!(load(2, &[blob(4)], 1).0, DINOF_STATUS_INVALID_MANIFEST);
}

#[test]
fn sample_options_refuse_impossible_label_counts() {
    in_child("sample_options_refuse_impossible_label_counts_child");
}

#[test]
#[ignore = "run in a child process by sample_options_refuse_impossible_label_counts"]
fn sample_options_refuse_impossible_label_counts_child() {
    let labels = [0i64; 2];
    let mut o = std::mem::MaybeUninit::<dinof_sample_options>::zeroed();
    // SAFETY: a writable struct of the size passed.
    assert_eq!(
        unsafe { dinof_sample_options_init(o.as_mut_ptr(), std::mem::size_of::<dinof_sample_options>() as u32) },
        DINOF_STATUS_OK
    );
    // SAFETY: initialised just above.
    let mut o = unsafe { o.assume_init() };
    o.labels = labels.as_ptr();
    // One label per image for as many images as the count says; 8-byte labels, so 2^60 already exceeds isize::MAX.
    for count in [u64::MAX, 1 << 62, isize::MAX as u64 / 8 + 1] {
        o.n = count;
        o.label_count = count;
        // SAFETY: a valid struct whose label_count lies about its 2-element array, which is what is tested.
        let e = unsafe { dinof::ffi::options::sample_options(&o) }.unwrap_err();
        assert_eq!(e.status, DINOF_STATUS_INVALID_ARGUMENT, "label_count {count}: {}", e.message);
        assert!(e.message.contains(&format!("label_count = {count}")), "{}", e.message);
    }
}

#[test]
fn sample_refuses_an_output_past_the_largest_object() {
    in_child("sample_refuses_an_output_past_the_largest_object_child");
}

#[test]
#[ignore = "run in a child process by sample_refuses_an_output_past_the_largest_object"]
fn sample_refuses_an_output_past_the_largest_object_child() {
    let path = CString::new(common::fixture("gauss-vp").to_str().unwrap()).unwrap();
    let mut m: *mut dinof_model = ptr::null_mut();
    // SAFETY: valid arguments.
    assert_eq!(unsafe { dinof_model_load(path.as_ptr(), ptr::null(), &mut m) }, DINOF_STATUS_OK, "{}", last_error());
    let mut o = std::mem::MaybeUninit::<dinof_sample_options>::zeroed();
    // SAFETY: a writable struct of the size passed.
    assert_eq!(
        unsafe { dinof_sample_options_init(o.as_mut_ptr(), std::mem::size_of::<dinof_sample_options>() as u32) },
        DINOF_STATUS_OK
    );
    // SAFETY: initialised just above.
    let mut o = unsafe { o.assume_init() };
    let mut out = [0f32; 16];
    let mut bytes = [0u8; 64];
    // 2^58 images of 16 floats (4 bytes) are 2^64 bytes; as RGBA8 2^58 x 64 bytes. out_len claims room for them.
    o.n = 1 << 58;
    // SAFETY: valid pointers; out_len lies, which is what is tested.
    let s = unsafe { dinof_sample(m, &o, out.as_mut_ptr(), usize::MAX, None, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(s, DINOF_STATUS_INVALID_ARGUMENT, "{}", last_error());
    // SAFETY: as above.
    let s =
        unsafe { dinof_sample_rgba8(m, &o, bytes.as_mut_ptr(), usize::MAX, None, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(s, DINOF_STATUS_INVALID_ARGUMENT, "{}", last_error());
    assert!(out.iter().all(|&v| v == 0.0) && bytes.iter().all(|&v| v == 0), "a refused call wrote to its buffer");
    // SAFETY: a live handle.
    unsafe { dinof_model_free(m) };
}

/// Fails a call, so that the next successful one has a message to clear.
fn fail_first() {
    let mut m: *mut dinof_model = ptr::null_mut();
    // SAFETY: NULL path on purpose; a valid out pointer.
    assert_eq!(unsafe { dinof_model_load(ptr::null(), ptr::null(), &mut m) }, DINOF_STATUS_NULL_POINTER);
    assert_eq!(last_error(), "path is NULL");
}

#[test]
fn every_success_clears_the_last_error() {
    type Call = (&'static str, fn() -> dinof_status);
    // The status-returning functions that succeed with NULL arguments; the others clear it through the same
    // `guard` (src/ffi/status.rs) on their success paths.
    let calls: [Call; 4] = [
        ("dinof_job_free(NULL)", || unsafe { dinof_job_free(ptr::null_mut()) }),
        ("dinof_struct_layout(BLOB, NULL, NULL, NULL)", || unsafe {
            dinof_struct_layout(DINOF_STRUCT_BLOB, ptr::null(), ptr::null_mut(), ptr::null_mut())
        }),
        ("dinof_set_log_callback(NULL, NULL, ERROR)", || unsafe {
            dinof_set_log_callback(None, ptr::null_mut(), DINOF_LOG_ERROR)
        }),
        ("dinof_shutdown(0)", || dinof_shutdown(0)),
    ];
    for (what, call) in calls {
        fail_first();
        assert_eq!(call(), DINOF_STATUS_OK, "{what}: {}", last_error());
        assert_eq!(last_error(), "", "{what} succeeded but left the previous message");
    }
    // The one exception, documented: copying the message leaves it.
    fail_first();
    let mut needed = 0usize;
    // SAFETY: a size query (NULL buffer, length 0) with a valid `needed`.
    assert_eq!(unsafe { dinof_last_error_copy(ptr::null_mut(), 0, &mut needed) }, DINOF_STATUS_OK);
    assert_eq!((last_error().as_str(), needed), ("path is NULL", "path is NULL".len() + 1));
}
