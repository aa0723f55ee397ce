;;; Casts for Prisma's SQLite storage, loaded with `pgloader --load-lisp-file` (see bench/import_bench.py).
;;;
;;; Prisma's native SQLite engine stores DateTime as INTEGER epoch milliseconds. pgloader's own
;;; sqlite-timestamp-to-timestamp reads an integer as a *year* (pgloader#1314), and the inline CAST
;;; ... USING (lambda ...) syntax rejects `+`, so the ms-exact conversion lives here.

(in-package #:pgloader.transforms)

(defun prisma-epoch-ms-to-timestamp (value)
  "Epoch milliseconds (integer, or digits as text) to 'YYYY-MM-DD HH:MM:SS.mmm' (UTC, ms exact);
   other text (ISO-8601, 'YYYY-MM-DD HH:MM:SS') is passed through for PostgreSQL to parse."
  (let ((ms (typecase value
              (integer value)
              (string (handler-case (parse-integer value) (error () nil)))
              (t nil))))
    (cond ((null value) nil)
          ((null ms) (if (stringp value) value (princ-to-string value)))
          (t (multiple-value-bind (seconds millis) (floor ms 1000)
               ;; Universal time counts from 1900-01-01; epoch seconds from 1970-01-01.
               (multiple-value-bind (sec min hour day month year)
                   (decode-universal-time (+ seconds 2208988800) 0)
                 (format nil "~4,'0d-~2,'0d-~2,'0d ~2,'0d:~2,'0d:~2,'0d.~3,'0d"
                         year month day hour min sec millis)))))))

(defun prisma-json-to-text (value)
  "A Json cell as JSON text. NUMERIC affinity stores a Json scalar such as 3.5 as REAL, and pgloader's
   default rendering of a double is Lisp syntax ('3.5d0'), which PostgreSQL rejects: COPY of the whole
   table fails, yet pgloader exits 0."
  (typecase value
    (null nil)
    (string value)
    (double-float (let ((*read-default-float-format* 'double-float)) (princ-to-string value)))
    (t (princ-to-string value))))
